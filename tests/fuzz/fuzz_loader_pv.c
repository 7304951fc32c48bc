/* fuzz_loader_pv: libFuzzer target for the product_view pipeline of the stream loader.
 *
 * The input is one Kafka message. The pipeline must take it without a crash, leak or undefined
 * behaviour, as exactly one row or one dead letter, and a row must have copy_sql's 36 columns
 * (a column too many or too few would fail the batch's COPY, and with it every event of the
 * batch). The enrichment data is the installed uap-core and GeoIP files. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader_pv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { COLUMNS = 36 };

struct seen {
    int rows, dead;
};

static int
on_row(void *ctx, const struct pgconn_row *row, struct err *e)
{
    size_t n;
    const char *text = pgconn_row_text(row, &n);
    int cols = 1;

    (void)e;
    for (size_t i = 0; i < n; i++)
        cols += text[i] == '\t';
    if (cols != COLUMNS || n == 0 || text[n - 1] != '\n') {
        fprintf(stderr, "row with %d columns: %.*s\n", cols, (int)n, text);
        abort();
    }
    ((struct seen *)ctx)->rows++;
    return 0;
}

static int
on_dead(void *ctx, const char *raw, size_t len, const char *reason, struct err *e)
{
    (void)raw;
    (void)len;
    (void)e;
    if (reason == NULL || *reason == '\0')
        abort();
    ((struct seen *)ctx)->dead++;
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int opened;
    const struct loader_config cfg = {0};
    struct seen s = {0, 0};
    struct loader_msg m = {"product_view", 0, 1, (const char *)data, size};
    struct loader_sink sink = {on_row, on_dead, &s};
    struct pgconn_row *row = pgconn_row_new();
    struct err e = {0};

    if (!opened && loader_pv.open(&cfg, &e) < 0) {
        fprintf(stderr, "open: %s\n", e.msg);
        abort();
    }
    opened = 1;
    if (row == NULL || loader_pv.parse(&m, row, &sink, &e) < 0 || s.rows + s.dead != 1)
        abort();
    loader_pv.batch_end(size % 2 == 0); /* both ways through the memory of keys */
    pgconn_row_free(row);
    return 0;
}
