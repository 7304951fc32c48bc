/* fuzz_loader_dvc: libFuzzer target for the dvc pipeline of the stream loader, differential.
 *
 * The input is one Kafka message. loader_dvc (jsonflat's fast path for flat records, jansson
 * for the rest) and loader_dvc_jansson (jansson only) must give the same rows and the same
 * dead letters, byte for byte, with the same return code: the fast path may only take what it
 * reads exactly as jansson does. Any difference aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader_dvc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What one parse produced, as one byte string: "R<row>" and "D<raw>|<reason>" entries. */
struct trace {
    char *buf;
    size_t len, cap;
};

static void
put(struct trace *t, const char *p, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        t->cap = (t->len + n + 1) * 2;
        if ((t->buf = realloc(t->buf, t->cap)) == NULL)
            abort();
    }
    memcpy(t->buf + t->len, p, n);
    t->len += n;
}

static int
on_row(void *ctx, const struct pgconn_row *row, struct err *e)
{
    size_t n;
    const char *text = pgconn_row_text(row, &n);

    (void)e;
    put(ctx, "R", 1);
    put(ctx, text, n);
    return 0;
}

static int
on_dead(void *ctx, const char *raw, size_t len, const char *reason, struct err *e)
{
    (void)e;
    put(ctx, "D", 1);
    if (raw != NULL)
        put(ctx, raw, len);
    put(ctx, "|", 1);
    put(ctx, reason, strlen(reason));
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct trace a = {0}, b = {0};
    struct loader_msg m = {"all_data", 1, 2, (const char *)data, size};
    struct loader_sink sa = {on_row, on_dead, &a}, sb = {on_row, on_dead, &b};
    struct pgconn_row *row = pgconn_row_new();
    struct err e = {0};
    int ra, rb;

    if (row == NULL)
        abort();
    ra = loader_dvc.parse(&m, row, &sa, &e);
    rb = loader_dvc_jansson.parse(&m, row, &sb, &e);
    if (ra != rb || a.len != b.len || (a.len > 0 && memcmp(a.buf, b.buf, a.len) != 0)) {
        fprintf(stderr, "fast path: %d\n%.*s\njansson: %d\n%.*s\n", ra, (int)a.len, a.buf, rb,
                (int)b.len, b.buf);
        abort();
    }
    free(a.buf);
    free(b.buf);
    pgconn_row_free(row);
    return 0;
}
