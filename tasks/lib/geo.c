/* geo: where an IP address is (geo.h). Country from the legacy GeoIP country files through
 * libGeoIP, region and city from a MaxMind DB city file through libmaxminddb.
 *
 * The address text is checked with inet_pton (a dotted quad or IPv6 text, nothing else: no
 * host names, no "1.2.3"), then looked up by number, so libGeoIP never resolves a name. An
 * IPv4-mapped IPv6 address (::ffff:a.b.c.d) is looked up in the IPv4 file, where its country
 * is. Country names come from libGeoIP's UTF-8 table (GEOIP_CHARSET_UTF8); a name that is
 * still not valid UTF-8 (an older libGeoIP whose table is ISO-8859-1) is converted, so every
 * string in a geo_result is UTF-8. libGeoIP prints to stderr when it cannot open a file: the
 * files are checked here first, so library code stays silent. After geo_new nothing is
 * written: lookups on one struct geo may run in parallel. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <GeoIP.h>
#include <maxminddb.h>

#include "geo.h"

struct geo {
    GeoIP *v4, *v6;
    MMDB_s city;
    bool has_city;
};

/* Whether path can be opened for reading; ERR_IO naming it otherwise. */
static int
file_check(const char *what, const char *path, struct err *e)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return err_set(e, ERR_IO, "%s %s: %s", what, path, strerror(errno));
    close(fd);
    return 0;
}

/* Open a legacy country file and check that it is the edition expected (v4 or v6). */
static GeoIP *
country_open(const char *what, const char *path, int edition, struct err *e)
{
    GeoIP *gi;

    if (file_check(what, path, e) < 0)
        return NULL;
    if ((gi = GeoIP_open(path, GEOIP_MEMORY_CACHE)) == NULL) {
        err_set(e, ERR_PARSE, "%s %s: not a GeoIP database", what, path);
        return NULL;
    }
    if (GeoIP_database_edition(gi) != edition) {
        err_set(e, ERR_PARSE, "%s %s: a GeoIP database of edition %d, not the country edition %d",
                what, path, GeoIP_database_edition(gi), edition);
        GeoIP_delete(gi);
        return NULL;
    }
    GeoIP_set_charset(gi, GEOIP_CHARSET_UTF8);
    return gi;
}

static int
city_open(struct geo *g, const char *path, struct err *e)
{
    int rc;

    if (file_check("city database", path, e) < 0)
        return -1;
    rc = MMDB_open(path, MMDB_MODE_MMAP, &g->city);
    if (rc != MMDB_SUCCESS)
        return err_set(e, ERR_PARSE, "city database %s: %s", path, MMDB_strerror(rc));
    g->has_city = true;
    return 0;
}

struct geo *
geo_new(const char *v4, const char *v6, const char *city, struct err *e)
{
    struct geo *g = calloc(1, sizeof(*g));

    if (g == NULL) {
        err_set(e, ERR_FAIL, "out of memory");
        return NULL;
    }
    g->v4 =
        country_open("IPv4 country database", v4 ? v4 : GEO_DEFAULT_V4, GEOIP_COUNTRY_EDITION, e);
    if (g->v4 != NULL)
        g->v6 = country_open("IPv6 country database", v6 ? v6 : GEO_DEFAULT_V6,
                             GEOIP_COUNTRY_EDITION_V6, e);
    if (g->v6 == NULL || (city != NULL && city_open(g, city, e) < 0)) {
        geo_free(g);
        return NULL;
    }
    return g;
}

void
geo_free(struct geo *g)
{
    if (g == NULL)
        return;
    if (g->v4 != NULL)
        GeoIP_delete(g->v4);
    if (g->v6 != NULL)
        GeoIP_delete(g->v6);
    if (g->has_city)
        MMDB_close(&g->city);
    free(g);
}

/* Whether s is valid UTF-8 (no overlong forms, no surrogates, nothing past U+10FFFF). */
static bool
utf8_valid(const unsigned char *s)
{
    while (*s != '\0') {
        int n = *s < 0x80 ? 0 : (*s & 0xE0) == 0xC0 ? 1 : (*s & 0xF0) == 0xE0 ? 2 : -1;
        uint32_t cp;

        if (n < 0 && (*s & 0xF8) == 0xF0)
            n = 3;
        if (n < 0 || (n == 1 && *s < 0xC2))
            return false;
        cp = n == 0 ? *s : (uint32_t)(*s & (0x3F >> n));
        for (int i = 1; i <= n; i++) {
            if ((s[i] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (s[i] & 0x3F);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return false;
        s += n + 1;
    }
    return true;
}

/* Copy src into dst (size n) as UTF-8: as is when it is UTF-8, else read as ISO-8859-1. A
 * character that does not fit is left out whole. */
static void
copy_utf8(char *dst, size_t n, const char *src)
{
    const unsigned char *s = (const unsigned char *)src;
    size_t o = 0;

    if (utf8_valid(s)) {
        snprintf(dst, n, "%s", src);
        return;
    }
    for (; *s != '\0'; s++) {
        if (*s < 0x80 && o + 1 < n) {
            dst[o++] = (char)*s;
        } else if (*s >= 0x80 && o + 2 < n) {
            dst[o++] = (char)(0xC0 | *s >> 6);
            dst[o++] = (char)(0x80 | (*s & 0x3F));
        } else {
            break;
        }
    }
    dst[o] = '\0';
}

static void
country_fill(GeoIP *gi, int id, struct geo_result *r)
{
    const char *code = id > 0 ? GeoIP_code_by_id(id) : NULL;
    const char *name = id > 0 ? GeoIP_country_name_by_id(gi, id) : NULL;

    if (code == NULL || strcmp(code, "--") == 0)
        return;
    snprintf(r->country_code, sizeof(r->country_code), "%s", code);
    if (name != NULL)
        copy_utf8(r->country_name, sizeof(r->country_name), name);
}

/* The string at the path (NULL-terminated) below entry into dst, "" when there is none. */
static void
mmdb_text(MMDB_entry_s *entry, char *dst, size_t n, const char *const *path)
{
    MMDB_entry_data_s d;
    char tmp[256];
    size_t len;

    dst[0] = '\0';
    if (MMDB_aget_value(entry, &d, path) != MMDB_SUCCESS || !d.has_data ||
        d.type != MMDB_DATA_TYPE_UTF8_STRING)
        return;
    len = d.data_size < sizeof(tmp) - 1 ? d.data_size : sizeof(tmp) - 1;
    memcpy(tmp, d.utf8_string, len);
    tmp[len] = '\0';
    copy_utf8(dst, n, tmp);
}

static void
city_fill(const struct geo *g, const char *ip, struct geo_result *r)
{
    static const char *const region[] = {"subdivisions", "0", "names", "en", NULL};
    static const char *const city[] = {"city", "names", "en", NULL};
    int gai = 0, merr = MMDB_SUCCESS;
    MMDB_lookup_result_s res = MMDB_lookup_string(&g->city, ip, &gai, &merr);

    if (gai != 0 || merr != MMDB_SUCCESS || !res.found_entry)
        return;
    mmdb_text(&res.entry, r->region_name, sizeof(r->region_name), region);
    mmdb_text(&res.entry, r->city_name, sizeof(r->city_name), city);
}

bool
geo_lookup(const struct geo *g, const char *ip, struct geo_result *r)
{
    unsigned char a[16];
    int id;

    memset(r, 0, sizeof(*r));
    if (ip == NULL)
        return false;
    if (inet_pton(AF_INET, ip, a) == 1) {
        id = GeoIP_id_by_ipnum(g->v4, (unsigned long)a[0] << 24 | (unsigned long)a[1] << 16 |
                                          (unsigned long)a[2] << 8 | a[3]);
        country_fill(g->v4, id, r);
    } else if (inet_pton(AF_INET6, ip, a) == 1) {
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(a, mapped, sizeof(mapped)) == 0) {
            id = GeoIP_id_by_ipnum(g->v4, (unsigned long)a[12] << 24 | (unsigned long)a[13] << 16 |
                                              (unsigned long)a[14] << 8 | a[15]);
            country_fill(g->v4, id, r);
        } else {
            geoipv6_t v6;
            memcpy(&v6, a, sizeof(v6));
            country_fill(g->v6, GeoIP_id_by_ipnum_v6(g->v6, v6), r);
        }
    } else {
        return false;
    }
    if (g->has_city)
        city_fill(g, ip, r);
    return true;
}
