/* tasktest: helpers for the unit tests of tasks/lib: test JSON (load, str) and a loader
 * pipeline run against a sink that collects its rows and dead letters. Header-only, static
 * inline: include it after <cmocka.h> and the pipeline's header. */
#ifndef GUST_TASKTEST_H
#define GUST_TASKTEST_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "loader.h"

enum { OUT_MAX = 16 }; /* rows and dead letters one parse may produce in a test */

/* Test JSON (new reference); the test fails on bad JSON. */
static inline json_t *
load(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);

    if (j == NULL)
        fail_msg("bad test JSON: %s", je.text);
    return j;
}

/* The string field key of rec, or NULL. */
static inline const char *
str(const json_t *rec, const char *key)
{
    return json_string_value(json_object_get(rec, key));
}

/* What a parse produced: rows as COPY text, dead letters as payload + reason. */
struct out {
    char *rows[OUT_MAX];
    int nrows;
    char *dead_raw[OUT_MAX];
    size_t dead_len[OUT_MAX];
    char *dead_reason[OUT_MAX];
    int ndead;
    int fail;      /* make both callbacks fail */
    int fail_rows; /* make the row callback fail */
};

static inline int
collect_row(void *ctx, const struct pgconn_row *row, struct err *e)
{
    struct out *o = ctx;
    size_t len;
    const char *t = pgconn_row_text(row, &len);

    if (o->fail || o->fail_rows)
        return err_set(e, ERR_DB, "sink down");
    assert_true(o->nrows < OUT_MAX);
    o->rows[o->nrows++] = strndup(t, len);
    return 0;
}

static inline int
collect_dead(void *ctx, const char *raw, size_t len, const char *reason, struct err *e)
{
    struct out *o = ctx;

    if (o->fail)
        return err_set(e, ERR_DB, "sink down");
    assert_true(o->ndead < OUT_MAX);
    o->dead_raw[o->ndead] = NULL;
    if (raw) { /* every byte, NULs too (strndup would stop at one) */
        o->dead_raw[o->ndead] = malloc(len + 1);
        assert_non_null(o->dead_raw[o->ndead]);
        memcpy(o->dead_raw[o->ndead], raw, len);
        o->dead_raw[o->ndead][len] = '\0';
    }
    o->dead_len[o->ndead] = len;
    o->dead_reason[o->ndead++] = strdup(reason);
    return 0;
}

/* Empty o (what it collected released). */
static inline void
out_clear(struct out *o)
{
    for (int i = 0; i < o->nrows; i++)
        free(o->rows[i]);
    for (int i = 0; i < o->ndead; i++) {
        free(o->dead_raw[i]);
        free(o->dead_reason[i]);
    }
    memset(o, 0, sizeof(*o));
}

/* Run pipeline p on value (len bytes; NULL: a tombstone) as message offset of topic [part],
 * collecting into o; returns parse's rc. */
static inline int
pipeline_parse(const struct loader_pipeline *p, const char *topic, int part, int64_t offset,
               const char *value, size_t len, struct out *o)
{
    struct loader_msg m = {topic, part, offset, value, len};
    struct loader_sink sink = {collect_row, collect_dead, o};
    struct pgconn_row *row = pgconn_row_new();
    struct err e = {0};
    int rc = p->parse(&m, row, &sink, &e);

    pgconn_row_free(row);
    return rc;
}

/* Is s structurally valid UTF-8? (Reasons are stored as text: they must be.) */
static inline int
utf8_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    while (*p) {
        int n = *p < 0x80 ? 0 : *p >= 0xF0 ? 3 : *p >= 0xE0 ? 2 : *p >= 0xC0 ? 1 : -1;
        if (n < 0)
            return 0;
        for (p++; n > 0; n--, p++)
            if ((*p & 0xC0) != 0x80)
                return 0;
    }
    return 1;
}

/* The parse of json (rc) refused its one record: no row, one dead letter whose reason
 * contains want. */
static inline void
assert_refused(int rc, const struct out *o, const char *json, const char *want)
{
    assert_int_equal(rc, 0);
    assert_int_equal(o->nrows, 0);
    assert_int_equal(o->ndead, 1);
    if (strstr(o->dead_reason[0], want) == NULL)
        fail_msg("%s: reason '%s' does not say '%s'", json, o->dead_reason[0], want);
}

/* parse_fn refuses the one record of message json: the reason contains want and is valid
 * UTF-8; the dead letter's payload is the message. */
static inline void
assert_message_refused(int (*parse_fn)(const char *, struct out *), const char *json,
                       const char *want)
{
    struct out o = {0};

    assert_refused(parse_fn(json, &o), &o, json, want);
    assert_true(utf8_ok(o.dead_reason[0]));
    if (json)
        assert_string_equal(o.dead_raw[0], json);
    out_clear(&o);
}

/* A sink that fails stops parse_fn at once: a valid record (good) and a refused one ("{}")
 * both return -1 and nothing is collected. */
static inline void
assert_sink_error_stops(int (*parse_fn)(const char *, struct out *), const char *good)
{
    struct out o = {.fail = 1};

    assert_int_equal(parse_fn(good, &o), -1);
    assert_int_equal(parse_fn("{}", &o), -1);
    assert_int_equal(o.nrows + o.ndead, 0);
}

/* The names of pipeline entry p. */
static inline void
assert_pipeline_names(const struct loader_pipeline *p, const char *name, const char *topic,
                      const char *group)
{
    assert_string_equal(p->name, name);
    assert_string_equal(p->default_topic, topic);
    assert_string_equal(p->default_group, group);
}

/* Column i (0-based) of a COPY text row, into buf. */
static inline const char *
col(const char *row, int i, char *buf, size_t size)
{
    const char *p = row;

    for (int k = 0; k < i; k++) {
        p = strchr(p, '\t');
        assert_non_null(p);
        p++;
    }
    size_t n = strcspn(p, "\t\n");
    snprintf(buf, size, "%.*s", (int)n, p);
    return buf;
}

/* How many columns a COPY text row has. */
static inline int
ncols(const char *row)
{
    int n = 1;
    for (const char *p = row; *p; p++)
        n += *p == '\t';
    return n;
}

#endif
