/* err: see err.h. Messages never overflow msg[]: a message too long for it loses its middle,
 * never its end, because the end is the reason ("...: Permission denied") and the start the
 * outermost context, while the middle is usually a long value (a path, a command line). */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ELLIPSIS "..."
#define MIN_PREFIX 48 /* what err_prefix keeps of its context when the reason alone is long */

/* Copy s (len bytes) into out (room bytes, room > 3) with the middle replaced by "..."
 * when it does not fit; returns the bytes written, no terminator. */
static size_t
put_cut(char *out, size_t room, const char *s, size_t len)
{
    size_t head, tail;

    if (len <= room) {
        memcpy(out, s, len);
        return len;
    }
    head = (room - strlen(ELLIPSIS)) / 2;
    tail = room - strlen(ELLIPSIS) - head;
    memcpy(out, s, head);
    memcpy(out + head, ELLIPSIS, strlen(ELLIPSIS));
    memcpy(out + head + strlen(ELLIPSIS), s + len - tail, tail);
    return room;
}

/* e->msg = text, cut in the middle when too long. */
static void
set_msg(struct err *e, const char *text)
{
    size_t n = put_cut(e->msg, sizeof(e->msg) - 1, text, strlen(text));

    e->msg[n] = '\0';
}

/* Format into a new string; NULL when out of memory. */
static char *
format(const char *fmt, va_list ap)
{
    char *s;

    return vasprintf(&s, fmt, ap) < 0 ? NULL : s;
}

int
err_set(struct err *e, enum err_code code, const char *fmt, ...)
{
    va_list ap;
    char *text;

    if (e == NULL)
        return -1;
    e->code = code;
    e->temporary = false;
    va_start(ap, fmt);
    text = format(fmt, ap);
    va_end(ap);
    if (text == NULL) {
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof(e->msg), fmt, ap); /* out of memory: cut the end */
        va_end(ap);
        return -1;
    }
    set_msg(e, text);
    free(text);
    return -1;
}

int
err_prefix(struct err *e, const char *fmt, ...)
{
    char prefix[sizeof(e->msg)], old[sizeof(e->msg)];
    size_t room = sizeof(e->msg) - 1 - 2, plen, olen, pmax, n;
    char *full;
    va_list ap;

    if (e == NULL)
        return -1;
    va_start(ap, fmt);
    full = format(fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof(old));
    olen = strnlen(old, sizeof(old) - 1);
    plen = full ? strlen(full) : 0;
    /* The reason (old) keeps all it can; the context gets what is left, and at least
     * MIN_PREFIX, so that both ends of the whole message survive. */
    pmax = olen + MIN_PREFIX <= room ? room - olen : MIN_PREFIX;
    n = put_cut(prefix, pmax, full ? full : "?", full ? plen : 1);
    free(full);
    memcpy(prefix + n, ": ", 2);
    n += 2;
    n += put_cut(prefix + n, sizeof(e->msg) - 1 - n, old, olen);
    prefix[n] = '\0';
    memcpy(e->msg, prefix, n + 1);
    return -1;
}

void
err_clear(struct err *e)
{
    if (e == NULL)
        return;
    e->code = ERR_OK;
    e->temporary = false;
    e->msg[0] = '\0';
}
