/* jsonflat: one flat JSON object scanned in place (see jsonflat.h).
 *
 * Key invariant: "simple" is a subset of what jansson accepts, and for that subset the values
 * are exactly jansson's: a string without escapes is its bytes (so anything with a backslash
 * goes to jansson, which decodes \uXXXX and refuses \u0000), an integer is strtoll's value
 * of -?(0|[1-9][0-9]*) within long long (jansson's "too big integer" goes to jansson), UTF-8
 * is checked as strictly as jansson does (no overlong forms, surrogates or code points above
 * U+10FFFF), a control character in a string is refused, and whitespace is the four JSON
 * ones. Whatever is not certain returns -1 and jansson decides. */
#include "jsonflat.h"

#include <stdint.h>
#include <string.h>

/* Bytes that end a run of plain ASCII inside a string: the quote, the backslash, control
 * characters and every non-ASCII byte. */
static bool
string_stop(unsigned char c)
{
    return c == '"' || c == '\\' || c < 0x20 || c >= 0x80;
}

static const char *
skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r'))
        p++;
    return p;
}

static bool
cont(const char *p, const char *end, unsigned char lo, unsigned char hi)
{
    return p < end && (unsigned char)*p >= lo && (unsigned char)*p <= hi;
}

/* The length of the valid UTF-8 sequence of 2 to 4 bytes at p (RFC 3629), or 0. */
static size_t
utf8_seq(const char *p, const char *end)
{
    unsigned char c = (unsigned char)p[0];

    if (c >= 0xC2 && c <= 0xDF)
        return cont(p + 1, end, 0x80, 0xBF) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        unsigned char lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        return cont(p + 1, end, lo, hi) && cont(p + 2, end, 0x80, 0xBF) ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        unsigned char lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        return cont(p + 1, end, lo, hi) && cont(p + 2, end, 0x80, 0xBF) &&
                       cont(p + 3, end, 0x80, 0xBF)
                   ? 4
                   : 0;
    }
    return 0;
}

/* True when none of the 8 bytes at p stops a plain ASCII run (string_stop), tested at once
 * with the usual bit tricks: a byte >= 0x80 has its top bit; "has a byte below n" and "has a
 * zero byte" are (x - 0x01..01 * n) & ~x & 0x80..80. A false "stops" is harmless (the bytes
 * are then looked at one by one). */
static bool
plain8(const char *p)
{
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    uint64_t x, q, b;

    memcpy(&x, p, sizeof(x));
    q = x ^ (ones * '"');
    b = x ^ (ones * '\\');
    return ((x | ((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((b - ones) & ~b)) & high) == 0;
}

/* The body of a string starting after its opening quote: returns its closing quote, or NULL
 * when it is not simple (escape, control character, bad UTF-8, no end). */
static const char *
scan_string(const char *p, const char *end)
{
    for (;;) {
        while (end - p >= 8 && plain8(p))
            p += 8;
        if (p >= end)
            return NULL; /* no closing quote */
        unsigned char c = (unsigned char)*p;
        size_t n;

        if (!string_stop(c)) {
            p++;
        } else if (c == '"') {
            return p;
        } else if (c >= 0xC2 && c <= 0xDF && end - p >= 2 && ((unsigned char)p[1] & 0xC0) == 0x80) {
            p += 2; /* the common two-byte letters (ô, ư, Đ...), inline */
        } else if (c >= 0xE1 && c <= 0xEC && end - p >= 3 && ((unsigned char)p[1] & 0xC0) == 0x80 &&
                   ((unsigned char)p[2] & 0xC0) == 0x80) {
            p += 3; /* and the three-byte ones (ệ, ố...: U+1000..U+CFFF) */
        } else if (c >= 0x80 && (n = utf8_seq(p, end)) > 0) {
            p += n;
        } else {
            return NULL;
        }
    }
}

static bool
is_digit(const char *p, const char *end)
{
    return p < end && *p >= '0' && *p <= '9';
}

/* An integer at p: -?(0|[1-9][0-9]*) within long long, not followed by a fraction, an
 * exponent or another digit. Returns the byte after it, or NULL. */
static const char *
scan_integer(const char *p, const char *end, long long *out)
{
    unsigned long long v = 0, limit = 9223372036854775807ULL;
    bool neg = p < end && *p == '-';

    if (neg) {
        p++;
        limit++; /* LLONG_MIN's magnitude */
    }
    if (!is_digit(p, end))
        return NULL;
    if (*p == '0') {
        p++;
    } else {
        for (; is_digit(p, end); p++) {
            unsigned d = (unsigned)(*p - '0');
            if (v > (limit - d) / 10)
                return NULL; /* jansson: "too big integer" */
            v = v * 10 + d;
        }
    }
    if (p < end && (*p == '.' || *p == 'e' || *p == 'E' || is_digit(p, end)))
        return NULL;
    *out = neg ? (v == 0 ? 0 : -(long long)(v - 1) - 1) : (long long)v;
    return p;
}

/* The literal word at p (true, false, null): returns the byte after it, or NULL. */
static const char *
scan_word(const char *p, const char *end, const char *word)
{
    size_t n = strlen(word);

    if ((size_t)(end - p) < n || memcmp(p, word, n) != 0)
        return NULL;
    return p + n;
}

/* One value at p into *v. Returns the byte after it, or NULL when it is not simple. */
static const char *
scan_value(const char *p, const char *end, struct jsonflat_val *v)
{
    const char *q;

    if (p >= end)
        return NULL;
    switch (*p) {
    case '"':
        if ((q = scan_string(p + 1, end)) == NULL)
            return NULL;
        v->kind = JF_STRING;
        v->s = p + 1;
        v->len = (size_t)(q - (p + 1));
        return q + 1;
    case 't':
        v->kind = JF_TRUE;
        return scan_word(p, end, "true");
    case 'f':
        v->kind = JF_FALSE;
        return scan_word(p, end, "false");
    case 'n':
        v->kind = JF_NULL;
        return scan_word(p, end, "null");
    default:
        v->kind = JF_INTEGER;
        return scan_integer(p, end, &v->i);
    }
}

/* The index of the name key[0..len) among names, trying hint first; -1 when not named. */
static int
name_index(const char *key, size_t len, const char *const *names, int n, int hint)
{
    for (int k = 0; k < n; k++) {
        int i = (hint + k) % n;
        if (strncmp(names[i], key, len) == 0 && names[i][len] == '\0')
            return i;
    }
    return -1;
}

int
jsonflat_scan(const char *buf, size_t len, const char *const *names, int n,
              struct jsonflat_val *vals)
{
    const char *p = buf, *end = buf + len;
    int hint = 0;

    for (int i = 0; i < n; i++)
        vals[i].kind = JF_ABSENT;
    p = skip_ws(p, end);
    if (p >= end || *p++ != '{')
        return -1;
    p = skip_ws(p, end);
    if (p < end && *p == '}')
        return skip_ws(p + 1, end) == end ? 0 : -1;
    for (;;) {
        struct jsonflat_val ignored, *v = &ignored;
        const char *key, *q;
        int i;

        if (p >= end || *p != '"' || (q = scan_string(p + 1, end)) == NULL)
            return -1;
        key = p + 1;
        if ((i = name_index(key, (size_t)(q - key), names, n, hint)) >= 0) {
            if (vals[i].kind != JF_ABSENT)
                return -1; /* given twice: jansson keeps the last; let it decide */
            v = &vals[i];
            hint = i + 1 < n ? i + 1 : 0;
        }
        p = skip_ws(q + 1, end);
        if (p >= end || *p++ != ':')
            return -1;
        if ((p = scan_value(skip_ws(p, end), end, v)) == NULL)
            return -1;
        p = skip_ws(p, end);
        if (p < end && *p == '}')
            return skip_ws(p + 1, end) == end ? 0 : -1;
        if (p >= end || *p++ != ',')
            return -1;
        p = skip_ws(p, end);
    }
}

const char *
jsonflat_type_name(const struct jsonflat_val *v)
{
    switch (v->kind) {
    case JF_OBJECT:
        return "an object";
    case JF_ARRAY:
        return "an array";
    case JF_TRUE:
    case JF_FALSE:
        return "a boolean";
    case JF_STRING:
        return "a string";
    case JF_INTEGER:
    case JF_REAL:
        return "a number";
    default:
        return NULL;
    }
}
