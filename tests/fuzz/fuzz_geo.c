/* fuzz_geo: libFuzzer target for geo_lookup (tasks/lib/geo) over Debian's GeoIP country files.
 *
 * The input, NUL-terminated, is looked up. Invariants: true exactly when inet_pton accepts
 * the text as IPv4 or IPv6; on false every field is ""; on true a country name comes with a
 * two-letter code and is valid UTF-8 (checked by iconv, not by geo.c's own check). */
#include <arpa/inet.h>
#include <iconv.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "geo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct geo *G;

static int
utf8_ok(const char *s)
{
    iconv_t cd = iconv_open("UTF-32LE", "UTF-8");
    char buf[1024], *in = (char *)s, *out = buf;
    size_t inl = strlen(s), outl = sizeof(buf), rc = iconv(cd, &in, &inl, &out, &outl);

    iconv_close(cd);
    return rc != (size_t)-1 && inl == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct err e = {0};
    struct geo_result r;
    unsigned char a[16];
    char *text = malloc(size + 1);
    bool valid;

    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (G == NULL && (G = geo_new(NULL, NULL, NULL, &e)) == NULL)
        abort(); /* the databases must be there */
    valid = inet_pton(AF_INET, text, a) == 1 || inet_pton(AF_INET6, text, a) == 1;
    if (geo_lookup(G, text, &r) != valid)
        abort();
    if (!valid && (r.country_code[0] || r.country_name[0] || r.region_name[0] || r.city_name[0]))
        abort();
    if (r.country_name[0] && (strlen(r.country_code) != 2 || !utf8_ok(r.country_name)))
        abort();
    free(text);
    return 0;
}
