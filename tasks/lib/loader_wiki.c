/* loader_wiki: parse and validate the recent_changes messages into COPY rows of the batch's
 * temp table, merged into wiki_recent_changes at the end of the batch (see loader_wiki.h).
 *
 * A message is one JSON object, as tasks/wiki_stream sends it (keyed by rcid): rcid, title,
 * time, username, change_type, pageId, oldsize, newsize, revisionId, old_revisionId; unknown
 * fields are ignored, a missing one is NULL. rcid must be a positive integer and time a
 * timestamp with an offset (MediaWiki sends 2024-05-01T12:00:00Z; stored as the same instant in
 * UTC). Everything else may be null: a hidden user (userhidden) has no username, a log row has
 * no sizes or revisions, and both are valid changes, not errors. The integers are JSON
 * integers (integral reals and strings of digits are accepted too, as in loader_dvc); a user
 * name is at most MediaWiki's 255 bytes. Values are kept as sent: no trimming, a title is
 * exact.
 *
 * Duplicates (the crawl's overlap sends a change again; a replay) are ignored: each batch
 * COPYs into a temp table and finish_sql inserts the first row per rcid with ON CONFLICT
 * (rcid) DO NOTHING, so the first version stored stays (a recent change never changes).
 *
 * Key invariant (as in loader_dvc): a record becomes a row only when every value will be
 * accepted by its column, so one bad record can never fail the COPY, and with it the batch. */
#include "loader_wiki.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "iso8601.h" /* iso8601_to_pg_utc: ISO 8601 with an offset -> UTC */

enum kind {
    K_RCID, /* a positive integer, required */
    K_TIME, /* ISO 8601 with an offset -> UTC, required */
    K_TEXT, /* a string or NULL */
    K_USER, /* a string of at most LOADER_WIKI_USER_MAX bytes, or NULL */
    K_INT,  /* a bigint or NULL */
};

/* The record's fields in copy_sql's column order. */
static const struct field {
    const char *name;
    enum kind kind;
} fields[LOADER_WIKI_COLUMNS] = {
    {"rcid", K_RCID},        {"title", K_TEXT},         {"time", K_TIME},   {"username", K_USER},
    {"change_type", K_TEXT}, {"pageId", K_INT},         {"oldsize", K_INT}, {"newsize", K_INT},
    {"revisionId", K_INT},   {"old_revisionId", K_INT},
};

#define BATCH_COLS                                                                                 \
    "rcid, title, \"time\", username, change_type, page_id, oldsize, newsize, revision_id, "       \
    "old_revision_id, source_topic, source_partition, source_offset"

/* ---- one value ------------------------------------------------------------------------ */

/* A field's value in its column: text (NULL = SQL NULL) and its length. */
struct val {
    const char *s;
    size_t len;
    char buf[64]; /* an integer's text, a converted timestamp */
};

/* An integer: a JSON integer, an integral real, or a string of digits ("" and blanks =
 * NULL). 0 with *null set when there is none; -1 after naming the problem. */
static int
int_of(const json_t *v, const char *name, long long *n, bool *null, struct loader_problems *pr)
{
    *null = v == NULL || json_is_null(v);
    if (*null)
        return 0;
    if (json_is_integer(v)) {
        *n = json_integer_value(v);
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d != floor(d) || fabs(d) >= 9.2e18) {
            loader_problem(pr, "%s: %.17g is not an integer", name, d);
            return -1;
        }
        *n = (long long)d;
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        s += strspn(s, " \t\r\n");
        if ((*null = *s == '\0'))
            return 0;
        errno = 0;
        *n = strtoll(s, &end, 10);
        if (errno != 0 || end == s || !strchr("+-0123456789", *s) ||
            end[strspn(end, " \t\r\n")] != '\0') {
            loader_problem(pr, "%s: '%.*s' is not an integer", name,
                           loader_quote_len(json_string_value(v), json_string_length(v), 40),
                           json_string_value(v));
            return -1;
        }
    } else {
        loader_problem(pr, "%s: integer expected, got %s", name, loader_type_name(v));
        return -1;
    }
    return 0;
}

static void
int_value(const json_t *v, const struct field *f, struct val *out, struct loader_problems *pr)
{
    long long n;
    bool null;

    if (int_of(v, f->name, &n, &null, pr) < 0)
        return;
    if (null && f->kind == K_RCID) {
        loader_problem(pr, "%s missing", f->name);
        return;
    }
    if (!null && f->kind == K_RCID && n <= 0) {
        loader_problem(pr, "%s: %lld is not positive", f->name, n);
        return;
    }
    if (!null) {
        out->len = (size_t)snprintf(out->buf, sizeof(out->buf), "%lld", n);
        out->s = out->buf;
    }
}

/* A string as sent, or NULL; a user name no longer than MediaWiki allows. */
static void
text_value(const json_t *v, const struct field *f, struct val *out, struct loader_problems *pr)
{
    if (v == NULL || json_is_null(v))
        return;
    if (!json_is_string(v)) {
        loader_problem(pr, "%s: text expected, got %s", f->name, loader_type_name(v));
        return;
    }
    if (f->kind == K_USER && json_string_length(v) > LOADER_WIKI_USER_MAX) {
        loader_problem(pr, "%s: %zu bytes, longer than MediaWiki's %d", f->name,
                       json_string_length(v), LOADER_WIKI_USER_MAX);
        return;
    }
    out->s = json_string_value(v);
    out->len = json_string_length(v);
}

/* The change's time: required, with an offset, converted to UTC. */
static void
time_value(const json_t *v, const struct field *f, struct val *out, struct loader_problems *pr)
{
    struct err e = {0};
    const char *s;

    if (v == NULL || json_is_null(v)) {
        loader_problem(pr, "%s missing", f->name);
        return;
    }
    if (!json_is_string(v)) {
        loader_problem(pr, "%s: timestamp expected, got %s", f->name, loader_type_name(v));
        return;
    }
    s = json_string_value(v);
    if (iso8601_to_pg_utc(s, out->buf, sizeof(out->buf), &e) < 0) {
        loader_problem(pr, "%s: bad timestamp '%.*s': %s", f->name,
                       loader_quote_len(s, strlen(s), 40), s, e.msg);
        return;
    }
    out->s = out->buf;
    out->len = strlen(out->buf);
}

static void
field_value(const json_t *rec, const struct field *f, struct val *out, struct loader_problems *pr)
{
    const json_t *v = json_object_get(rec, f->name);

    out->s = NULL;
    out->len = 0;
    switch (f->kind) {
    case K_RCID:
    case K_INT:
        int_value(v, f, out, pr);
        break;
    case K_TIME:
        time_value(v, f, out, pr);
        break;
    case K_TEXT:
    case K_USER:
        text_value(v, f, out, pr);
        break;
    }
}

/* ---- records and messages ------------------------------------------------------------ */

/* One change: a row when every field is valid, else a dead letter naming every problem. */
static int
record_emit(const json_t *rec, const struct loader_msg *m, struct pgconn_row *row,
            const struct loader_sink *sink, struct err *e)
{
    struct loader_problems pr = {.len = 0, .n = 0};
    struct val v;

    pgconn_row_reset(row);
    for (int i = 0; i < LOADER_WIKI_COLUMNS; i++) {
        field_value(rec, &fields[i], &v, &pr);
        if (pr.n == 0 && pgconn_row_addn(row, v.s, v.len, e) < 0)
            return -1;
    }
    if (pr.n > 0)
        return sink->dead(sink->ctx, m->value, m->vlen, pr.text, e);
    if (loader_row_source(row, m, e) < 0)
        return -1;
    return sink->row(sink->ctx, row, e);
}

static int
wiki_parse(const struct loader_msg *m, struct pgconn_row *row, const struct loader_sink *sink,
           struct err *e)
{
    return loader_parse_object(m, row, sink, record_emit, e);
}

const struct loader_pipeline loader_wiki = {
    .name = "wiki",
    .default_topic = "recent_changes",
    .default_group = "wiki_recent_changes",
    /* The batch's rows, numbered by seq in the order they were read; dropped at COMMIT. */
    .prepare_sql = "CREATE TEMP TABLE wiki_recent_changes_batch ("
                   " seq bigint GENERATED ALWAYS AS IDENTITY, rcid bigint, title text,"
                   " \"time\" timestamptz, username varchar(255), change_type text,"
                   " page_id bigint, oldsize bigint, newsize bigint, revision_id bigint,"
                   " old_revision_id bigint, source_topic text, source_partition integer,"
                   " source_offset bigint) ON COMMIT DROP",
    .copy_sql = "COPY wiki_recent_changes_batch (" BATCH_COLS ") FROM STDIN",
    /* The first record read per rcid; one already stored stays as it is. */
    .finish_sql = "INSERT INTO wiki_recent_changes (" BATCH_COLS ")"
                  " SELECT DISTINCT ON (rcid) " BATCH_COLS " FROM wiki_recent_changes_batch"
                  " ORDER BY rcid, seq ON CONFLICT (rcid) DO NOTHING",
    .dead_letter_sql = "INSERT INTO wiki_recent_changes_dead_letters"
                       " (topic, \"partition\", \"offset\", key, payload, reason)"
                       " VALUES ($1, $2, $3, decode($4, 'hex'), decode($5, 'hex'), $6)",
    .parse = wiki_parse,
};
