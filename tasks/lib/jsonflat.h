/* jsonflat: a fast scanner for the common case of a loader's message, one flat JSON object
 * (benchmarks, issue 8: jansson's tree building was most of the loader's CPU time).
 *
 * jsonflat_scan reads an object whose values are strings, integers, true, false or null and
 * picks the values of the named fields, without allocating and without copying strings. It
 * accepts only what it can read exactly as jansson would and says "not simple" for anything
 * else (escapes in strings, reals, nested objects or arrays, a name given twice, invalid
 * UTF-8, control characters, bad syntax...): the caller then parses with jansson, which
 * decides, so a message never means two different things. Pure code: no I/O, no allocation. */
#ifndef GUST_JSONFLAT_H
#define GUST_JSONFLAT_H

#include <stdbool.h>
#include <stddef.h>

/* One field's value as a loader's validators see it, whichever parser read it. */
struct jsonflat_val {
    enum jsonflat_kind {
        JF_ABSENT, /* the field is not in the object */
        JF_NULL,
        JF_STRING,  /* s, len: the string's bytes (valid UTF-8; not NUL-terminated) */
        JF_INTEGER, /* i */
        JF_REAL,    /* d (jansson's path only) */
        JF_TRUE,
        JF_FALSE,
        JF_OBJECT, /* (jansson's path only) */
        JF_ARRAY,  /* (jansson's path only) */
    } kind;
    const char *s;
    size_t len;
    long long i;
    double d;
};

/* Scan buf[0..len) as one JSON object (whitespace around it allowed); for each of the n
 * names (distinct, NUL-terminated), vals[k] gets the value of field names[k] or JF_ABSENT.
 * Fields not named are checked and skipped. Returns 0, or -1 when the text is not such a
 * simple object (or not JSON at all): use a full parser then. Strings in vals point into
 * buf. */
int jsonflat_scan(const char *buf, size_t len, const char *const *names, int n,
                  struct jsonflat_val *vals);

/* "an object", "an array", "a boolean", "a string" or "a number" (loader_type_name's words);
 * NULL for JF_ABSENT and JF_NULL. */
const char *jsonflat_type_name(const struct jsonflat_val *v);

#endif
