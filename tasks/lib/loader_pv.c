/* loader_pv: parse the product_view events into COPY rows of the batch's temp table, moved into
 * the star schema by product_view_ingest_batch() at the end of the batch (see loader_pv.h and
 * migrations/0008_product_view.sql).
 *
 * One message is one event (a JSON object). Refused, as dead letters naming every problem: not
 * JSON, not an object, no id (a non-empty string), a time_stamp that is not a number of epoch
 * seconds in years 1970-9999, an option that is not an array, a local_time that is not
 * "yyyy-MM-dd HH:mm:ss" (a \u0000 in any string makes the message bad JSON: no text column
 * takes NUL). Everything else may be missing or null. A text column takes a string as sent and any
 * other JSON value as its JSON text: real data has the boolean false in recommendation and utm_*,
 * which is data.
 *
 * Keys as the original computed them (lowercase hex SHA-256 of the UTF-8 text): sales_key of
 * id || product_id (a missing product_id counts as ""), ip_key of ip, user_agent_key of
 * user_agent (NULL when the value is NULL); product_key is the product id. full_date and
 * full_time are time_stamp in UTC (the original used its Spark session's zone). referrer_url
 * keeps only the referrer's host.
 *
 * Dimension rows: the loader remembers (keyset) the dimension keys of every committed batch, so
 * a user agent is parsed (uap-core's regexes, PCRE2) and an address looked up (GeoIP) once per
 * process, and only new keys reach the database: a row's *_new flag tells
 * product_view_ingest_batch() to write that dimension row. A product is remembered as a
 * placeholder until an event brings its page URL (from a view_product_detail or
 * select_product_option* event, whose current_url is the product's own page); then the row is
 * written again and filled in. The memory is forgotten when a batch is rolled back (it may
 * hold keys that never landed) and when a set passes LOADER_PV_CACHE_MAX keys.
 *
 * Key invariant (as in the other pipelines): an event becomes a row only when every value will
 * be accepted by its column, so one bad event can never fail the COPY, and with it the batch. */
#include "loader_pv.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "geo.h"
#include "keyset.h"
#include "uaparse.h"

#define FACT_COLS                                                                                  \
    "sales_key, full_date, full_time, ip_key, user_agent_key, product_key, referrer_url, "         \
    "collection, option, email_address, resolution, user_id_db, device_id, api_version, "          \
    "store_id, local_time, show_recommendation, recommendation, utm_source, utm_medium"
#define BATCH_COLS                                                                                 \
    FACT_COLS ", ua_new, user_agent, browser, os, location_new, ip_address, country_code, "        \
              "country_name, region_name, city_name, product_new, product_url, product_language, " \
              "source_topic, source_partition, source_offset"

/* The fact's text columns taken as sent, after the computed ones, in copy order. */
static const char *const text_fields[] = {
    "collection",          NULL /* option */,     "email_address",  "resolution",
    "user_id_db",          "device_id",           "api_version",    "store_id",
    NULL /* local_time */, "show_recommendation", "recommendation", "utm_source",
    "utm_medium",
};

enum { T_COLLECTION = 0, T_OPTION = 1, T_LOCAL_TIME = 8 }; /* their places in text_fields */

enum { PRODUCT_PLACEHOLDER = 1, PRODUCT_HAS_URL = 2 }; /* product keyset states */

/* What the pipeline holds between open and close: one pipeline per process. */
static struct {
    struct uaparse *ua;
    struct geo *geo;
    struct keyset *uas, *ips, *products;
} pv;

/* ---- pure helpers ---------------------------------------------------------------------- */

void
loader_pv_sha256_hex(const char *s, size_t len, char hex[65])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char md[32];
    unsigned int mdlen = 0;

    EVP_Digest(s, len, md, &mdlen, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[64] = '\0';
}

/* Copy len bytes of s into out (size n), lowercased, NUL-terminated (cut to fit). */
static void
copy_lower(char *out, size_t n, const char *s, size_t len)
{
    size_t k = len < n - 1 ? len : n - 1;

    for (size_t i = 0; i < k; i++)
        out[i] = (char)tolower((unsigned char)s[i]);
    out[k] = '\0';
}

/* Where the authority of u starts (after "scheme://" or a leading "//"), or NULL when u has
 * none, as urlsplit decides it. */
static const char *
authority_of(const char *u)
{
    const char *colon = strchr(u, ':');

    if (colon && colon > u && isalpha((unsigned char)u[0]) &&
        strspn(u, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.") ==
            (size_t)(colon - u))
        u = colon + 1;
    return strncmp(u, "//", 2) == 0 ? u + 2 : NULL;
}

void
loader_pv_url_host(const char *u, char *out, size_t n)
{
    char buf[2048];
    const char *a, *end, *at, *host;
    size_t len;

    out[0] = '\0';
    while (*u == ' ' || (*u > 0 && *u < 32))
        u++;
    snprintf(buf, sizeof(buf), "%s%s", strstr(u, "//") ? "" : "http://", u);
    len = strlen(buf);
    while (len > 0 && (buf[len - 1] == ' ' || (buf[len - 1] > 0 && buf[len - 1] < 32)))
        buf[--len] = '\0';
    if ((a = authority_of(buf)) == NULL)
        return;
    end = a + strcspn(a, "/?#");
    host = a;
    for (at = a; at < end; at++)
        if (*at == '@')
            host = at + 1;
    if (*host == '[') {
        const char *close = memchr(host, ']', (size_t)(end - host));
        end = close ? close : end;
        host++;
    } else {
        const char *colon = memchr(host, ':', (size_t)(end - host));
        end = colon ? colon : end;
    }
    copy_lower(out, n, host, (size_t)(end - host));
}

/* Whether seg (len bytes) looks like a locale: "fr", "en-gb", "en_GB". */
static bool
is_locale(const char *seg, size_t len)
{
    if (len != 2 && len != 5)
        return false;
    for (size_t i = 0; i < len; i++) {
        bool sep = i == 2;
        if (sep ? seg[i] != '-' && seg[i] != '_' : !isalpha((unsigned char)seg[i]))
            return false;
    }
    return true;
}

void
loader_pv_product_url(const char *url, char *page, size_t npage, char *lang, size_t nlang)
{
    size_t len = strcspn(url, "?#");
    const char *a = authority_of(url), *path, *dot;

    snprintf(page, npage, "%.*s", (int)len, url);
    lang[0] = '\0';
    if (a == NULL)
        return;
    path = a + strcspn(a, "/?#");
    if (*path == '/' && is_locale(path + 1, strcspn(path + 1, "/?#"))) {
        copy_lower(lang, nlang, path + 1, strcspn(path + 1, "/?#"));
        return;
    }
    /* the top-level domain of the host (ports and user info do not hold dots before it) */
    for (dot = path; dot > a && dot[-1] != '.' && dot[-1] != '@'; dot--)
        ;
    size_t tld = strcspn(dot, ":/?#");
    if (dot > a && dot[-1] == '.' && tld == 2 && isalpha((unsigned char)dot[0]) &&
        isalpha((unsigned char)dot[1]))
        copy_lower(lang, nlang, dot, 2);
}

/* ---- one value ------------------------------------------------------------------------- */

/* A value of a text column: NULL for null or missing, a string as sent, anything else as its
 * JSON text (*tmp, freed by the caller). No string holds NUL: jansson refuses \u0000 (the
 * message is then bad JSON) unless asked to allow it, and we do not. */
static const char *
text_of(const json_t *v, const char *name, char **tmp, struct loader_problems *pr)
{
    if (v == NULL || json_is_null(v))
        return NULL;
    if (json_is_string(v))
        return json_string_value(v);
    if ((*tmp = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
        loader_problem(pr, "%s: cannot be written as JSON", name);
    return *tmp;
}

/* time_stamp -> "YYYY-MM-DD" and "HH:MM:SS" in UTC, or both "" when null or missing. */
static void
time_stamp_of(const json_t *v, char date[16], char hms[16], struct loader_problems *pr)
{
    struct tm tm;
    double d;
    time_t t;

    date[0] = hms[0] = '\0';
    if (v == NULL || json_is_null(v))
        return;
    if (!json_is_number(v)) {
        loader_problem(pr, "time_stamp: a number of epoch seconds expected, got %s",
                       loader_type_name(v));
        return;
    }
    d = json_number_value(v);
    if (!(d >= 0 && d < 253402300800.0)) {
        loader_problem(pr, "time_stamp: %.17g is outside years 1970-9999", d);
        return;
    }
    t = (time_t)floor(d);
    gmtime_r(&t, &tm);
    strftime(date, 16, "%Y-%m-%d", &tm);
    strftime(hms, 16, "%H:%M:%S", &tm);
}

/* local_time must be "yyyy-MM-dd HH:mm:ss" naming a real instant of the calendar. */
static void
local_time_check(const char *s, struct loader_problems *pr)
{
    struct tm tm = {0}, back;
    char *end;
    time_t t;

    if (s == NULL || *s == '\0')
        return;
    end = strptime(s, "%Y-%m-%d %H:%M:%S", &tm);
    if (end == NULL || *end != '\0' || strlen(s) != 19) {
        loader_problem(pr, "local_time: '%.*s' is not yyyy-MM-dd HH:mm:ss",
                       loader_quote_len(s, strlen(s), 40), s);
        return;
    }
    back = tm;
    t = timegm(&back);
    gmtime_r(&t, &back);
    if (back.tm_mday != tm.tm_mday || back.tm_mon != tm.tm_mon)
        loader_problem(pr, "local_time: '%s' is not a date of the calendar", s);
}

/* ---- the dimensions -------------------------------------------------------------------- */

/* Remember key in ks with state; a full set is forgotten first. */
static int
remember(struct keyset *ks, const char *key, unsigned state, struct err *e)
{
    if (keyset_count(ks) >= LOADER_PV_CACHE_MAX)
        keyset_clear(ks);
    if (keyset_put(ks, key, strlen(key), state) < 0)
        return err_set(e, ERR_FAIL, "dimension keys: out of memory");
    return 0;
}

/* Add n NULLs to row. */
static int
add_nulls(struct pgconn_row *row, int n, struct err *e)
{
    for (int i = 0; i < n; i++)
        if (pgconn_row_add(row, NULL, e) < 0)
            return -1;
    return 0;
}

/* ua_new, user_agent, browser, os. */
static int
user_agent_cols(struct pgconn_row *row, const char *ua, const char *key, struct err *e)
{
    struct uaparse_result r;
    char browser[96], os[96];

    if (ua == NULL || keyset_get(pv.uas, key, strlen(key)) != 0)
        return pgconn_row_add(row, "f", e) < 0 ? -1 : add_nulls(row, 3, e);
    uaparse_parse(pv.ua, ua, strlen(ua), &r);
    uaparse_browser_label(&r, browser, sizeof(browser));
    uaparse_os_label(&r, os, sizeof(os));
    if (pgconn_row_add(row, "t", e) < 0 || pgconn_row_add(row, ua, e) < 0 ||
        pgconn_row_add(row, browser, e) < 0 || pgconn_row_add(row, os, e) < 0)
        return -1;
    return remember(pv.uas, key, 1, e);
}

/* "" -> NULL */
static const char *
or_null(const char *s)
{
    return s && *s ? s : NULL;
}

/* location_new, ip_address, country_code, country_name, region_name, city_name. */
static int
location_cols(struct pgconn_row *row, const char *ip, const char *key, struct err *e)
{
    struct geo_result r;

    memset(&r, 0, sizeof(r));
    if (ip == NULL || keyset_get(pv.ips, key, strlen(key)) != 0)
        return pgconn_row_add(row, "f", e) < 0 ? -1 : add_nulls(row, 5, e);
    geo_lookup(pv.geo, ip, &r); /* not an address: a row with the text and no place */
    if (pgconn_row_add(row, "t", e) < 0 || pgconn_row_add(row, ip, e) < 0 ||
        pgconn_row_add(row, or_null(r.country_code), e) < 0 ||
        pgconn_row_add(row, or_null(r.country_name), e) < 0 ||
        pgconn_row_add(row, or_null(r.region_name), e) < 0 ||
        pgconn_row_add(row, or_null(r.city_name), e) < 0)
        return -1;
    return remember(pv.ips, key, 1, e);
}

/* Whether an event of this collection is on the product's own page. */
static bool
on_product_page(const char *collection)
{
    return collection && (strncmp(collection, "view_product_detail", 19) == 0 ||
                          strncmp(collection, "select_product_option", 21) == 0);
}

/* product_new, product_url, product_language. */
static int
product_cols(struct pgconn_row *row, const char *product, const char *url, struct err *e)
{
    char page[2048], lang[16];
    unsigned state;

    if (product == NULL)
        return pgconn_row_add(row, "f", e) < 0 ? -1 : add_nulls(row, 2, e);
    state = keyset_get(pv.products, product, strlen(product));
    if (url != NULL && *url != '\0' && !(state & PRODUCT_HAS_URL)) {
        loader_pv_product_url(url, page, sizeof(page), lang, sizeof(lang));
        if (pgconn_row_add(row, "t", e) < 0 || pgconn_row_add(row, or_null(page), e) < 0 ||
            pgconn_row_add(row, or_null(lang), e) < 0)
            return -1;
        return remember(pv.products, product, PRODUCT_PLACEHOLDER | PRODUCT_HAS_URL, e);
    }
    if (state != 0)
        return pgconn_row_add(row, "f", e) < 0 ? -1 : add_nulls(row, 2, e);
    if (pgconn_row_add(row, "t", e) < 0 || add_nulls(row, 2, e) < 0)
        return -1;
    return remember(pv.products, product, PRODUCT_PLACEHOLDER, e);
}

/* ---- one event ------------------------------------------------------------------------- */

#define NTEXT (sizeof(text_fields) / sizeof(text_fields[0]))

/* An event's values once checked; tmp holds the JSON texts made for it. */
struct event {
    const char *id, *product, *ip, *ua, *referrer, *url, *collection;
    const char *text[NTEXT];
    char sales_key[65], ip_key[65], ua_key[65];
    char date[16], hms[16], host[512];
    char *tmp[NTEXT + 8];
    size_t ntmp;
};

static const char *
event_text(struct event *ev, const json_t *rec, const char *name, struct loader_problems *pr)
{
    char **tmp = &ev->tmp[ev->ntmp];
    const char *s = text_of(json_object_get(rec, name), name, tmp, pr);

    ev->ntmp += *tmp != NULL;
    return s;
}

/* The event's id: a non-empty string. */
static void
event_id(struct event *ev, const json_t *rec, struct loader_problems *pr)
{
    const json_t *v = json_object_get(rec, "id");

    if (v == NULL || json_is_null(v))
        loader_problem(pr, "id missing");
    else if (!json_is_string(v))
        loader_problem(pr, "id: a string expected, got %s", loader_type_name(v));
    else if (json_string_length(v) == 0)
        loader_problem(pr, "id: empty");
    else
        ev->id = event_text(ev, rec, "id", pr);
}

/* option: NULL, or an array kept as JSON text. */
static void
event_option(struct event *ev, const json_t *rec, struct loader_problems *pr)
{
    const json_t *v = json_object_get(rec, "option");

    if (v != NULL && !json_is_null(v) && !json_is_array(v))
        loader_problem(pr, "option: an array expected, got %s", loader_type_name(v));
    else
        ev->text[T_OPTION] = event_text(ev, rec, "option", pr);
}

/* Check every value of rec into ev; the problems into pr. */
static void
event_read(struct event *ev, const json_t *rec, struct loader_problems *pr)
{
    char *keyed;

    event_id(ev, rec, pr);
    time_stamp_of(json_object_get(rec, "time_stamp"), ev->date, ev->hms, pr);
    ev->product = event_text(ev, rec, "product_id", pr);
    ev->ip = event_text(ev, rec, "ip", pr);
    ev->ua = event_text(ev, rec, "user_agent", pr);
    ev->referrer = event_text(ev, rec, "referrer_url", pr);
    ev->url = event_text(ev, rec, "current_url", pr);
    for (size_t i = 0; i < NTEXT; i++)
        if (text_fields[i])
            ev->text[i] = event_text(ev, rec, text_fields[i], pr);
    event_option(ev, rec, pr);
    ev->text[T_LOCAL_TIME] = or_null(event_text(ev, rec, "local_time", pr));
    local_time_check(ev->text[T_LOCAL_TIME], pr);
    ev->collection = ev->text[T_COLLECTION];
    if (pr->n > 0)
        return;
    if (asprintf(&keyed, "%s%s", ev->id, ev->product ? ev->product : "") < 0) {
        loader_problem(pr, "out of memory");
        return;
    }
    loader_pv_sha256_hex(keyed, strlen(keyed), ev->sales_key);
    free(keyed);
    if (ev->ip)
        loader_pv_sha256_hex(ev->ip, strlen(ev->ip), ev->ip_key);
    if (ev->ua)
        loader_pv_sha256_hex(ev->ua, strlen(ev->ua), ev->ua_key);
    if (ev->referrer)
        loader_pv_url_host(ev->referrer, ev->host, sizeof(ev->host));
}

static void
event_clear(struct event *ev)
{
    for (size_t i = 0; i < ev->ntmp; i++)
        free(ev->tmp[i]);
    ev->ntmp = 0;
}

/* The fact columns of a checked event. */
static int
fact_cols(struct pgconn_row *row, const struct event *ev, struct err *e)
{
    if (pgconn_row_add(row, ev->sales_key, e) < 0 ||
        pgconn_row_add(row, or_null(ev->date), e) < 0 ||
        pgconn_row_add(row, or_null(ev->hms), e) < 0 ||
        pgconn_row_add(row, ev->ip ? ev->ip_key : NULL, e) < 0 ||
        pgconn_row_add(row, ev->ua ? ev->ua_key : NULL, e) < 0 ||
        pgconn_row_add(row, ev->product, e) < 0 ||
        pgconn_row_add(row, ev->referrer ? or_null(ev->host) : NULL, e) < 0)
        return -1;
    for (size_t i = 0; i < NTEXT; i++)
        if (pgconn_row_add(row, ev->text[i], e) < 0)
            return -1;
    return 0;
}

/* One event: a row when every value is valid, else a dead letter naming every problem. */
static int
event_emit(const json_t *rec, const struct loader_msg *m, struct pgconn_row *row,
           const struct loader_sink *sink, struct err *e)
{
    struct loader_problems pr = {.len = 0, .n = 0};
    struct event ev = {0};
    int rc = -1;

    event_read(&ev, rec, &pr);
    if (pr.n > 0) {
        rc = sink->dead(sink->ctx, m->value, m->vlen, pr.text, e);
        goto out;
    }
    pgconn_row_reset(row);
    if (fact_cols(row, &ev, e) < 0 || user_agent_cols(row, ev.ua, ev.ua_key, e) < 0 ||
        location_cols(row, ev.ip, ev.ip_key, e) < 0 ||
        product_cols(row, ev.product, on_product_page(ev.collection) ? ev.url : NULL, e) < 0 ||
        loader_row_source(row, m, e) < 0)
        goto out;
    rc = sink->row(sink->ctx, row, e);
out:
    event_clear(&ev);
    return rc;
}

/* ---- the pipeline ---------------------------------------------------------------------- */

static int
pv_parse(const struct loader_msg *m, struct pgconn_row *row, const struct loader_sink *sink,
         struct err *e)
{
    return loader_parse_object(m, row, sink, event_emit, e);
}

static void
pv_close(void)
{
    uaparse_free(pv.ua);
    geo_free(pv.geo);
    keyset_free(pv.uas);
    keyset_free(pv.ips);
    keyset_free(pv.products);
    memset(&pv, 0, sizeof(pv));
}

static int
pv_open(const struct loader_config *cfg, struct err *e)
{
    if ((pv.ua = uaparse_new(or_null(cfg->ua_regexes), e)) == NULL)
        return err_prefix(e, "user agent regexes");
    /* "" is "the default" (a DAG passes an empty parameter as "") */
    if ((pv.geo = geo_new(or_null(cfg->geoip_v4), or_null(cfg->geoip_v6), or_null(cfg->geoip_city),
                          e)) == NULL)
        return err_prefix(e, "GeoIP");
    pv.uas = keyset_new();
    pv.ips = keyset_new();
    pv.products = keyset_new();
    if (!pv.uas || !pv.ips || !pv.products)
        return err_set(e, ERR_FAIL, "out of memory");
    return 0;
}

/* A rolled-back batch may have added keys that never landed: forget everything. */
static void
pv_batch_end(bool committed)
{
    if (committed)
        return;
    keyset_clear(pv.uas);
    keyset_clear(pv.ips);
    keyset_clear(pv.products);
}

const struct loader_pipeline loader_pv = {
    .name = "product_view",
    .default_topic = "product_view",
    .default_group = "product_view_star",
    .prepare_sql = "CREATE TEMP TABLE product_view_batch ("
                   " sales_key text, full_date date, full_time time, ip_key text,"
                   " user_agent_key text, product_key text, referrer_url text, collection text,"
                   " option jsonb, email_address text, resolution text, user_id_db text,"
                   " device_id text, api_version text, store_id text, local_time timestamp,"
                   " show_recommendation text, recommendation text, utm_source text,"
                   " utm_medium text, ua_new boolean, user_agent text, browser text, os text,"
                   " location_new boolean, ip_address text, country_code text,"
                   " country_name text, region_name text, city_name text,"
                   " product_new boolean, product_url text, product_language text,"
                   " source_topic text, source_partition integer, source_offset bigint)"
                   " ON COMMIT DROP",
    .copy_sql = "COPY product_view_batch (" BATCH_COLS ") FROM STDIN",
    .finish_sql = "SELECT product_view_ingest_batch()",
    .dead_letter_sql = "INSERT INTO product_view_dead_letters"
                       " (source_topic, source_partition, source_offset, message_key, payload,"
                       " reason)"
                       " VALUES ($1, $2, $3, decode($4, 'hex'), decode($5, 'hex'), $6)",
    .parse = pv_parse,
    .open = pv_open,
    .batch_end = pv_batch_end,
    .close = pv_close,
};
