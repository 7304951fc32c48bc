/* fuzz_ghavro: libFuzzer target for tasks/lib/ghavro's decoder and the github_events pipeline
 * of the stream loader built on it.
 *
 * The input is one Kafka message, meant to be an Avro object container. ghavro_decode and
 * ghavro_decode_raw must return 0 or 1 (never -1: the callbacks here never stop), deliver
 * records with consecutive indexes, each with exactly one of a record or a problem, and a
 * record always carries every field of the schema; loader_events.parse must return 0 and
 * emit rows of exactly the copy_sql columns and dead letters whose reason is valid UTF-8. A crash,
 * a leak, a failed check (abort) or an allocation beyond libFuzzer's limit is a finding. Seeds:
 * tests/fuzz/seeds/fuzz_ghavro/ (containers written by ghavro_tool and by python3-avro, both
 * codecs, several blocks). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ghavro.h"
#include "loader_events.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const FIELDS[] = {"event_id", "id",     "type",       "actor", "repo",
                                     "payload",  "public", "created_at", NULL};

static int
on_record(void *arg, size_t index, const json_t *rec, const char *problem, struct err *e)
{
    size_t *next = arg;

    (void)e;
    if (index != *next || (problem == NULL && rec == NULL))
        abort();
    if (problem == NULL)
        for (const char *const *f = FIELDS; *f; f++)
            if (json_object_get(rec, *f) == NULL)
                abort();
    if (problem != NULL && strncmp(problem, "record ", 7) != 0)
        abort();
    (*next)++;
    return 0;
}

/* Whether s is valid UTF-8 (RFC 3629): a dead letter's reason goes into a text column. */
static int
utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

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

static int
on_row(void *ctx, const struct pgconn_row *row, struct err *e)
{
    size_t len, tabs = 0;
    const char *text = pgconn_row_text(row, &len);

    (void)ctx;
    (void)e;
    for (size_t i = 0; i < len; i++)
        tabs += text[i] == '\t';
    if (tabs != LOADER_EVENTS_COLUMNS + 3)
        abort();
    return 0;
}

static int
on_dead(void *ctx, const char *raw, size_t len, const char *reason, struct err *e)
{
    (void)ctx;
    (void)raw;
    (void)len;
    (void)e;
    if (reason == NULL || reason[0] == '\0' || !utf8_valid(reason))
        abort();
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct loader_msg m = {"raw_metrics_avro", 0, 7, (const char *)data, size};
    struct loader_sink sink = {on_row, on_dead, NULL};
    struct pgconn_row *row = pgconn_row_new();
    struct err e = {0};
    size_t n1 = 0, n2 = 0;
    int r1 = ghavro_decode(data, size, on_record, &n1, &e);
    int r2 = ghavro_decode_raw(data, size, on_record, &n2, &e);

    if (r1 < 0 || r1 != r2 || n1 != n2 || row == NULL)
        abort();
    if (loader_events.parse(&m, row, &sink, &e) != 0)
        abort();
    pgconn_row_free(row);
    return 0;
}
