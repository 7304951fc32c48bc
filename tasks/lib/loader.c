/* loader: helpers shared by the stream loader's pipelines (tasks/lib/loader_*.c). */
#include "loader.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* How many of s's len bytes to quote in a reason: at most max, and never part of a UTF-8
 * character (the reason is stored as text: a cut character would fail the dead letter's
 * INSERT, and with it the batch, on every retry). The input is valid UTF-8 (jansson checks),
 * so only the cut end can hold an incomplete character. */
int
loader_quote_len(const char *s, size_t len, size_t max)
{
    size_t n = len < max ? len : max, start = n;

    while (start > 0 && ((unsigned char)s[start - 1] & 0xC0) == 0x80)
        start--;
    if (start > 0) { /* s[start - 1] begins the last character */
        unsigned char lead = (unsigned char)s[start - 1];
        size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
        if (n - (start - 1) < need)
            n = start - 1;
    }
    return (int)n;
}

void
loader_problem(struct loader_problems *pr, const char *fmt, ...)
{
    va_list ap;

    if (pr->len + 3 < sizeof(pr->text)) {
        if (pr->n > 0)
            pr->len += (size_t)snprintf(pr->text + pr->len, sizeof(pr->text) - pr->len, "; ");
        va_start(ap, fmt);
        int n = vsnprintf(pr->text + pr->len, sizeof(pr->text) - pr->len, fmt, ap);
        va_end(ap);
        pr->len = n < 0 ? pr->len : pr->len + (size_t)n;
        if (pr->len >= sizeof(pr->text))
            pr->len = sizeof(pr->text) - 1;
    }
    pr->n++;
}

const char *
loader_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_STRING:
        return "a string";
    default:
        return "a number";
    }
}

int
loader_parse_object(const struct loader_msg *m, struct pgconn_row *row,
                    const struct loader_sink *sink, loader_record_fn emit, struct err *e)
{
    json_error_t je;
    json_t *root;
    char reason[300];
    int rc;

    if (m->value == NULL || m->vlen == 0)
        return sink->dead(sink->ctx, m->value, m->vlen, "empty message", e);
    if ((root = json_loadb(m->value, m->vlen, JSON_DECODE_ANY, &je)) == NULL) {
        /* je.text may quote the input near the error: whole characters only, to be safe */
        snprintf(reason, sizeof(reason), "bad JSON: %.*s (line %d, column %d)",
                 loader_quote_len(je.text, strlen(je.text), sizeof(je.text)), je.text, je.line,
                 je.column);
        return sink->dead(sink->ctx, m->value, m->vlen, reason, e);
    }
    if (json_is_object(root))
        rc = emit(root, m, row, sink, e);
    else
        rc = sink->dead(sink->ctx, m->value, m->vlen, "not a JSON object", e);
    json_decref(root);
    return rc;
}

int
loader_row_source(struct pgconn_row *row, const struct loader_msg *m, struct err *e)
{
    if (pgconn_row_add(row, m->topic, e) < 0 || pgconn_row_addf(row, e, "%d", m->partition) < 0 ||
        pgconn_row_addf(row, e, "%" PRId64, m->offset) < 0)
        return -1;
    return 0;
}
