/* geo: where an IP address is. Country from Debian's geoip-database (the legacy GeoIP format:
 * /usr/share/GeoIP/GeoIP.dat for IPv4, GeoIPv6.dat for IPv6) through libGeoIP; region and
 * city from a MaxMind DB (GeoIP2/GeoLite2 City format, .mmdb) through libmaxminddb when one
 * is configured. Strings are UTF-8 (libGeoIP's country names are converted). */
#ifndef GUST_GEO_H
#define GUST_GEO_H

#include <stdbool.h>

#include "err.h"

struct geo;

#define GEO_DEFAULT_V4 "/usr/share/GeoIP/GeoIP.dat"
#define GEO_DEFAULT_V6 "/usr/share/GeoIP/GeoIPv6.dat"

/* Open the databases: v4 and v6 legacy country files (NULL: the defaults above), city an
 * .mmdb file or NULL for none. A file that cannot be opened is an error naming it. new. */
struct geo *geo_new(const char *v4, const char *v6, const char *city, struct err *e);
void geo_free(struct geo *g);

/* One answer: each field "" when unknown. */
struct geo_result {
    char country_code[8];  /* ISO 3166-1 alpha-2, "VN" */
    char country_name[96]; /* "Vietnam" */
    char region_name[128]; /* the first subdivision's English name, city database only */
    char city_name[128];   /* English name, city database only */
};

/* Look up ip (IPv4 dotted quad or IPv6 text). Returns true when ip is a valid address (found or
 * not: a private address is valid and unknown), false when it is not an IP address at all. */
bool geo_lookup(const struct geo *g, const char *ip, struct geo_result *r);

#endif
