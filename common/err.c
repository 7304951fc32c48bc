/* err: see err.h. Messages are truncated, never overflowed: a long path in an error is
 * better cut than a crash while reporting another problem. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int
err_set(struct err *e, enum err_code code, const char *fmt, ...)
{
    va_list ap;

    if (e == NULL)
        return -1;
    e->code = code;
    e->temporary = false;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    return -1;
}

int
err_prefix(struct err *e, const char *fmt, ...)
{
    char prefix[sizeof(e->msg)];
    char old[sizeof(e->msg)];
    va_list ap;

    if (e == NULL)
        return -1;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof(old));
    /* Built by hand rather than snprintf("%s: %s") so truncation is explicit. */
    size_t n = strlen(prefix);
    if (n > sizeof(e->msg) - 3)
        n = sizeof(e->msg) - 3;
    memcpy(e->msg, prefix, n);
    memcpy(e->msg + n, ": ", 2);
    size_t room = sizeof(e->msg) - n - 3;
    size_t m = strnlen(old, room);
    memcpy(e->msg + n + 2, old, m);
    e->msg[n + 2 + m] = '\0';
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
