/* conninfo: passwords out of libpq connection strings and of the messages that echo them.
 * Shared by the scheduler's store (scheduler/store.c) and the tasks' pgconn
 * (tasks/lib/pgconn.c); plain string work, no libpq. Invariant: what these functions return
 * never contains a password that conninfo or PGPASSWORD holds. */
#include "conninfo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MASK "***"

/* Find the next password value in conninfo at or after *from: the value of a `password=`
 * keyword (key=value form or URI query) or the password of a URI's user:password@.
 * Returns 1 and its span, or 0. */
static int
next_secret(const char *s, size_t from, size_t *start, size_t *len)
{
    const char *uri = strstr(s, "://");

    if (uri && from <= (size_t)(uri - s) + 3) {
        const char *auth = uri + 3, *end = auth + strcspn(auth, "/?"), *at = NULL;

        for (const char *p = auth; p < end; p++)
            if (*p == '@')
                at = p;
        const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
        if (colon) {
            *start = (size_t)(colon + 1 - s);
            *len = (size_t)(at - colon - 1);
            return 1;
        }
    }
    for (const char *p = strstr(s + from, "password"); p; p = strstr(p + 1, "password")) {
        const char *v = p + 8;

        if (p != s && !strchr(" \t\n?&", p[-1]))
            continue;
        v += strspn(v, " \t");
        if (*v != '=')
            continue;
        v++;
        v += strspn(v, " \t");
        *start = (size_t)(v - s);
        if (*v == '\'') { /* quoted: up to the closing quote, \' escapes */
            const char *q = v + 1;
            while (*q && *q != '\'')
                q += (*q == '\\' && q[1]) ? 2 : 1;
            *len = (size_t)(q - v) + (*q ? 1 : 0);
        } else {
            *len = strcspn(v, " \t\n&");
        }
        return 1;
    }
    return 0;
}

void
conninfo_mask(const char *conninfo, char *buf, size_t size)
{
    size_t at = 0, out = 0, start, len;

    if (size == 0)
        return;
    if (conninfo == NULL)
        conninfo = "";
    while (next_secret(conninfo, at, &start, &len)) {
        out += (size_t)snprintf(buf + out, out < size ? size - out : 0, "%.*s%s", (int)(start - at),
                                conninfo + at, MASK);
        at = start + len;
        if (out >= size)
            break;
    }
    if (out < size)
        snprintf(buf + out, size - out, "%s", conninfo + at);
}

/* Replace every occurrence of secret in msg (in place) with MASK. */
static void
scrub(char *msg, size_t size, const char *secret, size_t slen)
{
    char *p;

    if (slen < 2) /* too short to find without masking innocent text; libpq never echoes it */
        return;
    while ((p = memmem(msg, strlen(msg), secret, slen)) != NULL) {
        size_t tail = strlen(p + slen) + 1, mlen = strlen(MASK);

        if ((size_t)(p - msg) + mlen + tail > size)
            tail = size - (size_t)(p - msg) - mlen;
        memmove(p + mlen, p + slen, tail);
        memcpy(p, MASK, mlen);
        msg[size - 1] = '\0';
    }
}

/* Remove from msg every password that conninfo or the environment holds. */
void
conninfo_scrub(char *msg, size_t size, const char *conninfo)
{
    size_t at = 0, start, len;
    const char *env = getenv("PGPASSWORD");

    while (conninfo && next_secret(conninfo, at, &start, &len)) {
        scrub(msg, size, conninfo + start, len);
        at = start + len;
    }
    if (env)
        scrub(msg, size, env, strlen(env));
}
