/* fuzz_uaparse: libFuzzer target for tasks/lib/uaparse on the installed regexes.yaml.
 *
 * The input is one User-Agent, arbitrary bytes (NUL, invalid UTF-8, any length), in a buffer
 * of exactly its size, so a read past it is an ASan finding. Invariants: both families are
 * non-empty; every field is NUL-terminated inside its buffer and valid UTF-8 (dim_user_agent
 * stores them as text); a label is the family, or the family, a space and the major version;
 * a second parse of the same bytes gives the same answer. Seeds: tests/fuzz/seeds/fuzz_uaparse/
 * (user agents of common browsers, a bot, an app, invalid UTF-8). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uaparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static struct uaparse *u;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct err e = {0};

    (void)argc, (void)argv;
    u = uaparse_new(NULL, &e);
    if (u == NULL) {
        fprintf(stderr, "fuzz_uaparse: %s\n", e.msg);
        abort();
    }
    return 0;
}

/* Whether the field f of size cap is NUL-terminated inside it and valid UTF-8 (RFC 3629). */
static int
field_ok(const char *f, size_t cap)
{
    const unsigned char *p = (const unsigned char *)f;

    if (memchr(f, '\0', cap) == NULL)
        return 0;
    while (*p) {
        int n = *p < 0x80                  ? 0
                : *p >= 0xC2 && *p <= 0xDF ? 1
                : *p >= 0xE0 && *p <= 0xEF ? 2
                : *p >= 0xF0 && *p <= 0xF4 ? 3
                                           : -1;
        if (n < 0)
            return 0;
        if (n >= 1 && ((p[0] == 0xE0 && p[1] < 0xA0) || (p[0] == 0xED && p[1] > 0x9F) ||
                       (p[0] == 0xF0 && p[1] < 0x90) || (p[0] == 0xF4 && p[1] > 0x8F)))
            return 0;
        for (p++; n > 0; n--, p++)
            if ((*p & 0xC0) != 0x80)
                return 0;
    }
    return 1;
}

static void
check_label(const char *label, const char *family, const char *major)
{
    char want[96];

    snprintf(want, sizeof(want), major[0] ? "%s %s" : "%s", family, major);
    if (strcmp(label, want) != 0)
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *ua = malloc(size ? size : 1);
    struct uaparse_result r, again;
    char label[96];

    if (ua == NULL)
        return 0;
    memcpy(ua, data, size);
    uaparse_parse(u, ua, size, &r);
    uaparse_parse(u, ua, size, &again);
    free(ua);
    if (r.browser[0] == '\0' || r.os[0] == '\0' || memcmp(&r, &again, sizeof(r)) != 0)
        abort();
    if (!field_ok(r.browser, sizeof(r.browser)) || !field_ok(r.os, sizeof(r.os)) ||
        !field_ok(r.browser_major, sizeof(r.browser_major)) ||
        !field_ok(r.browser_minor, sizeof(r.browser_minor)) ||
        !field_ok(r.os_major, sizeof(r.os_major)) || !field_ok(r.os_minor, sizeof(r.os_minor)))
        abort();
    check_label(uaparse_browser_label(&r, label, sizeof(label)), r.browser, r.browser_major);
    check_label(uaparse_os_label(&r, label, sizeof(label)), r.os, r.os_major);
    return 0;
}
