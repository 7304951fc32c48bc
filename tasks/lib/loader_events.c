/* loader_events: parse the raw_metrics_avro messages into COPY rows of the batch's temp table,
 * moved into bronze.github_events by bronze.ingest_batch() at the end of the batch (see
 * loader_events.h).
 *
 * A message is one Avro object container (ghavro_decode_raw). Each record that matches the
 * GitHubEvent schema and whose every value its column accepts becomes one row: event_id a
 * UUID (8-4-4-4-12 hex digits), type not empty, actor_* and repo_* flattened (as written: a
 * missing id is 0, a missing string ""), payload JSON text stored as jsonb (it must parse as
 * JSON, no \u0000: PostgreSQL's jsonb refuses it), public, created_at ISO 8601 with an offset
 * converted to UTC ("" = NULL), and the record's index in its container. jsonb is stricter
 * than jansson in one way: numbers beyond numeric's range (1e-20000) are refused here too. A record
 * that does not becomes a dead letter holding the record as JSON and "record N: why" (every problem
 * of it named). A message that is not a container, or stops being one, becomes a dead letter of the
 * whole message with the reason, and the records before the damage still load.
 *
 * Key invariant (as in loader_wiki): a record becomes a row only when every value will be
 * accepted by its column, so one bad record can never fail the COPY, and with it the batch.
 * Strings from Avro may hold NUL characters, which no text column takes: refused here. */
#include "loader_events.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ghavro.h"
#include "iso8601.h" /* iso8601_to_pg_utc: ISO 8601 with an offset -> UTC */

#define BATCH_COLS                                                                                 \
    "event_id, id, type, actor_id, actor_login, actor_gravatar_id, actor_url, actor_avatar_url, "  \
    "repo_id, repo_name, repo_url, payload, public, created_at, source_topic, source_partition, "  \
    "source_offset, record_index"

/* What the decoder's callback needs. */
struct parse_ctx {
    const struct loader_msg *m;
    struct pgconn_row *row;
    const struct loader_sink *sink;
    size_t records; /* seen so far */
};

/* ---- one value ------------------------------------------------------------------------ */

/* Whether s is a UUID as 8-4-4-4-12 hex digits. */
static bool
is_uuid(const char *s, size_t len)
{
    if (len != 36)
        return false;
    for (size_t i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return false;
    }
    return true;
}

/* Append the text field path (key, or sub of key) of rec; problems into pr. */
static int
add_text(struct pgconn_row *row, const json_t *rec, const char *key, const char *sub,
         struct loader_problems *pr, struct err *e)
{
    const json_t *v = json_object_get(rec, key);
    const char *s;
    size_t len;

    if (sub)
        v = json_object_get(v, sub);
    s = json_string_value(v);
    len = json_string_length(v);
    if (s == NULL) {
        loader_problem(pr, "%s%s%s: missing", key, sub ? "." : "", sub ? sub : "");
        return 0;
    }
    if (memchr(s, '\0', len) != NULL) {
        loader_problem(pr, "%s%s%s: contains a NUL character", key, sub ? "." : "", sub ? sub : "");
        return 0;
    }
    return pr->n ? 0 : pgconn_row_addn(row, s, len, e);
}

/* The record's ids: event_id a UUID, id any text, type not empty. */
static int
add_ids(struct pgconn_row *row, const json_t *rec, struct loader_problems *pr, struct err *e)
{
    const json_t *eid = json_object_get(rec, "event_id");
    const json_t *type = json_object_get(rec, "type");

    if (!is_uuid(json_string_value(eid), json_string_length(eid)))
        loader_problem(pr, "event_id: '%.*s' is not a UUID",
                       loader_quote_len(json_string_value(eid), json_string_length(eid), 40),
                       json_string_value(eid));
    else if (pgconn_row_addn(row, json_string_value(eid), 36, e) < 0)
        return -1;
    if (add_text(row, rec, "id", NULL, pr, e) < 0)
        return -1;
    if (json_string_length(type) == 0)
        loader_problem(pr, "type: empty");
    return add_text(row, rec, "type", NULL, pr, e);
}

/* actor or repo: id (a bigint) and its strings. */
static int
add_nested(struct pgconn_row *row, const json_t *rec, const char *key, const char *const *strings,
           struct loader_problems *pr, struct err *e)
{
    if (pr->n == 0 &&
        pgconn_row_addf(row, e, "%" JSON_INTEGER_FORMAT,
                        json_integer_value(json_object_get(json_object_get(rec, key), "id"))) < 0)
        return -1;
    for (; *strings; strings++)
        if (add_text(row, rec, key, *strings, pr, e) < 0)
            return -1;
    return 0;
}

/* The number at s[*i] (JSON syntax, already checked by jansson) fits PostgreSQL's numeric,
 * which jsonb stores it in: at most 131072 digits before the point and 16383 after it
 * (jansson takes 1e-20000 as 0.0; jsonb refuses it). Conservative near the limits: a number
 * refused here could sometimes have been stored, never the reverse. *i moves past it. */
static bool
number_fits(const char *s, size_t len, size_t *i)
{
    long before = 0, after = 0, exp = 0;
    int sign = 1;

    if (*i < len && s[*i] == '-')
        (*i)++;
    for (; *i < len && s[*i] >= '0' && s[*i] <= '9'; (*i)++)
        before++;
    if (*i < len && s[*i] == '.')
        for ((*i)++; *i < len && s[*i] >= '0' && s[*i] <= '9'; (*i)++)
            after++;
    if (*i < len && (s[*i] == 'e' || s[*i] == 'E')) {
        (*i)++;
        if (*i < len && (s[*i] == '+' || s[*i] == '-'))
            sign = s[(*i)++] == '-' ? -1 : 1;
        for (; *i < len && s[*i] >= '0' && s[*i] <= '9'; (*i)++)
            if (exp < 1000000)
                exp = exp * 10 + (s[*i] - '0');
    }
    exp *= sign;
    return before + exp <= 131000 && after - exp <= 16000;
}

/* Whether every number of the JSON text s (len bytes, valid JSON) fits numeric. */
static bool
numbers_fit(const char *s, size_t len)
{
    bool in_string = false;

    for (size_t i = 0; i < len;) {
        char c = s[i];
        if (in_string) {
            in_string = c != '"';
            i += c == '\\' ? 2 : 1;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            if (!number_fits(s, len, &i))
                return false;
        } else {
            in_string = c == '"';
            i++;
        }
    }
    return true;
}

/* payload: NULL, or JSON text jsonb will take. */
static int
add_payload(struct pgconn_row *row, const json_t *rec, struct loader_problems *pr, struct err *e)
{
    const json_t *v = json_object_get(rec, "payload");
    json_error_t je;
    json_t *parsed;

    if (v == NULL || json_is_null(v))
        return pr->n ? 0 : pgconn_row_addn(row, NULL, 0, e);
    /* jansson stops at a NUL after a number ("1\0x" loads as 1); COPY takes no NUL at all */
    if (memchr(json_string_value(v), '\0', json_string_length(v)) != NULL) {
        loader_problem(pr, "payload: contains a NUL character");
        return 0;
    }
    /* integers of any size as reals: jsonb's numeric takes them, jansson's int would not */
    parsed = json_loadb(json_string_value(v), json_string_length(v),
                        JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, &je);
    if (parsed == NULL) {
        loader_problem(pr, "payload: not JSON: %.*s",
                       loader_quote_len(je.text, strlen(je.text), 80), je.text);
        return 0;
    }
    json_decref(parsed);
    if (!numbers_fit(json_string_value(v), json_string_length(v))) {
        loader_problem(pr, "payload: a number PostgreSQL's jsonb cannot hold (over 131000 "
                           "digits before the point or 16000 after it)");
        return 0;
    }
    return pr->n ? 0 : pgconn_row_addn(row, json_string_value(v), json_string_length(v), e);
}

/* public and created_at ("" = NULL, else ISO 8601 with an offset, stored in UTC). */
static int
add_public_time(struct pgconn_row *row, const json_t *rec, struct loader_problems *pr,
                struct err *e)
{
    const char *s = json_string_value(json_object_get(rec, "created_at"));
    char buf[64];
    struct err te = {0};

    if (pr->n == 0 &&
        pgconn_row_add(row, json_is_true(json_object_get(rec, "public")) ? "t" : "f", e) < 0)
        return -1;
    if (s == NULL || *s == '\0')
        return pr->n ? 0 : pgconn_row_addn(row, NULL, 0, e);
    if (iso8601_to_pg_utc(s, buf, sizeof(buf), &te) < 0) {
        loader_problem(pr, "created_at: bad timestamp '%.*s': %s",
                       loader_quote_len(s, strlen(s), 40), s, te.msg);
        return 0;
    }
    return pr->n ? 0 : pgconn_row_add(row, buf, e);
}

/* ---- records and messages ------------------------------------------------------------ */

static const char *const actor_strings[] = {"login", "gravatar_id", "url", "avatar_url", NULL};
static const char *const repo_strings[] = {"name", "url", NULL};

/* The length of the valid UTF-8 sequence at s (n bytes left), 0 when there is none: the
 * rules of RFC 3629 (no overlong forms, no surrogates, nothing above U+10FFFF), which are
 * PostgreSQL's. */
static size_t
utf8_seq(const unsigned char *s, size_t n)
{
    size_t len = s[0] < 0x80                    ? 1
                 : s[0] >= 0xC2 && s[0] <= 0xDF ? 2
                 : s[0] >= 0xE0 && s[0] <= 0xEF ? 3
                 : s[0] >= 0xF0 && s[0] <= 0xF4 ? 4
                                                : 0;

    if (len == 0 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    if ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] > 0x9F) ||
        (s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] > 0x8F))
        return 0;
    return len;
}

/* Replace every byte of s that is not part of valid UTF-8 by '?': a dead letter's reason is
 * stored as text, and libavro's or jansson's messages may quote the message's bytes. */
static void
utf8_clean(char *s)
{
    size_t n = strlen(s);

    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq((const unsigned char *)s + i, n - i);
        if (k == 0)
            s[i++] = '?';
        else
            i += k;
    }
}

/* A dead letter of one record: the record as JSON (when there is one) and why, made valid
 * UTF-8 (jansson's "near '...'" may cut a character of the payload in half). */
static int
record_dead(struct parse_ctx *c, const json_t *rec, const char *why, struct err *e)
{
    char *text = rec ? json_dumps(rec, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    char reason[sizeof(((struct loader_problems *)0)->text) + 32];
    int rc;

    snprintf(reason, sizeof(reason), "%s", why);
    utf8_clean(reason);
    rc = c->sink->dead(c->sink->ctx, text, text ? strlen(text) : 0, reason, e);
    free(text);
    return rc;
}

/* One record of the container (ghavro_record_fn): a row, or a dead letter. */
static int
on_record(void *arg, size_t index, const json_t *rec, const char *problem, struct err *e)
{
    struct parse_ctx *c = arg;
    struct loader_problems pr = {.len = 0, .n = 0};
    char reason[sizeof(pr.text) + 32];

    c->records++;
    if (problem)
        return record_dead(c, rec, problem, e);
    pgconn_row_reset(c->row);
    if (add_ids(c->row, rec, &pr, e) < 0 ||
        add_nested(c->row, rec, "actor", actor_strings, &pr, e) < 0 ||
        add_nested(c->row, rec, "repo", repo_strings, &pr, e) < 0 ||
        add_payload(c->row, rec, &pr, e) < 0 || add_public_time(c->row, rec, &pr, e) < 0)
        return -1;
    if (pr.n > 0) {
        snprintf(reason, sizeof(reason), "record %zu: %s", index, pr.text);
        return record_dead(c, rec, reason, e);
    }
    if (loader_row_source(c->row, c->m, e) < 0 || pgconn_row_addf(c->row, e, "%zu", index) < 0)
        return -1;
    return c->sink->row(c->sink->ctx, c->row, e);
}

static int
events_parse(const struct loader_msg *m, struct pgconn_row *row, const struct loader_sink *sink,
             struct err *e)
{
    struct parse_ctx c = {.m = m, .row = row, .sink = sink};
    struct err de = {0};
    char reason[sizeof(de.msg) + 64];
    int rc;

    if (m->value == NULL || m->vlen == 0)
        return sink->dead(sink->ctx, m->value, m->vlen, "empty message", e);
    rc = ghavro_decode_raw(m->value, m->vlen, on_record, &c, &de);
    if (rc < 0) { /* a sink failed: its error */
        *e = de;
        return -1;
    }
    if (rc == 0)
        return 0;
    snprintf(reason, sizeof(reason), "unreadable Avro container (after %zu records): %s", c.records,
             de.msg);
    utf8_clean(reason);
    return sink->dead(sink->ctx, m->value, m->vlen, reason, e);
}

const struct loader_pipeline loader_events = {
    .name = "github_events",
    .default_topic = "raw_metrics_avro",
    .default_group = "github_events_bronze",
    /* The batch's rows in the order they were read; dropped at COMMIT. */
    .prepare_sql = "CREATE TEMP TABLE github_events_batch ("
                   " seq bigint GENERATED ALWAYS AS IDENTITY, event_id uuid, id text, type text,"
                   " actor_id bigint, actor_login text, actor_gravatar_id text, actor_url text,"
                   " actor_avatar_url text, repo_id bigint, repo_name text, repo_url text,"
                   " payload jsonb, public boolean, created_at timestamptz, source_topic text,"
                   " source_partition integer, source_offset bigint, record_index integer)"
                   " ON COMMIT DROP",
    .copy_sql = "COPY github_events_batch (" BATCH_COLS ") FROM STDIN",
    /* Numbered in commit order and moved to today's partition (migration 0006). */
    .finish_sql = "SELECT bronze.ingest_batch()",
    .dead_letter_sql = "INSERT INTO bronze.github_events_dead_letters"
                       " (topic, \"partition\", \"offset\", key, payload, reason)"
                       " VALUES ($1, $2, $3, decode($4, 'hex'), decode($5, 'hex'), $6)",
    .parse = events_parse,
};
