/* loader_pv: the product_view pipeline of bin/stream_loader: topic product_view (a web shop's
 * behaviour events, one JSON object per message) -> the star schema of
 * migrations/0008_product_view.sql: fact_sales, one row per event (duplicates by sales_key
 * absorbed), and the dimension rows it points at, enriched (uap-core + PCRE2 for the user agent,
 * GeoIP for the location, the event's product URL); refused messages ->
 * product_view_dead_letters with the reason. The interface it implements is in loader.h. */
#ifndef GUST_LOADER_PV_H
#define GUST_LOADER_PV_H

#include <stddef.h>

#include "loader.h"

/* product_view -> fact_sales and dimensions (through the per-batch temp table
 * product_view_batch and product_view_ingest_batch()). */
extern const struct loader_pipeline loader_pv;

/* Keys the loader remembers per dimension before it forgets them all (memory stays bounded;
 * a forgotten key only costs one more ON CONFLICT in the database). */
#define LOADER_PV_CACHE_MAX 1000000

/* The pure parts, exported for the unit tests. */

/* The lowercase hex SHA-256 of len bytes of s into hex[65]. */
void loader_pv_sha256_hex(const char *s, size_t len, char hex[65]);

/* The host of a referrer URL as Python's urllib.parse.urlsplit(u).hostname has it (lowercase,
 * no user info, no port), "http://" put in front when u holds no "//". 0 and out[0] = '\0'
 * when there is no host. */
void loader_pv_url_host(const char *u, char *out, size_t n);

/* A product page: url without its query and fragment into page, and its language code into
 * lang (the first path segment when it looks like "fr" or "en-gb", else the host's country-code
 * top-level domain, else ""). */
void loader_pv_product_url(const char *url, char *page, size_t npage, char *lang, size_t nlang);

#endif
