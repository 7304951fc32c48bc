/* loader_users: parse, validate and clean the users_created messages into COPY rows of the
 * batch's temp table, merged into created_users at the end of the batch (see loader_users.h).
 *
 * A message is one JSON object, as tasks/randomuser_stream sends it (keyed by email): id,
 * first_name, last_name, gender, address, postal_code, email, username, dob, registered_date,
 * phone, picture; unknown fields are ignored, a missing one is NULL. Where each of the
 * original's cleaning rules (issue 6, item 3) runs, and why:
 *   - here, in C: trim (every text field, ASCII whitespace at both ends; blank = NULL), email
 *     lower-cased and matched against ^[A-Za-z0-9+_.-]+@[A-Za-z0-9.-]+$, email and first_name
 *     required, phone reduced to its digits (none = NULL), dob and registered_date converted to
 *     UTC timestamptz text, id checked to be a UUID. These decide between row and dead letter,
 *     and the loader writes dead letters from what parse() reports, so they must run before the
 *     COPY. The email is the dedupe key, so it leaves here final; a valid email is ASCII (the
 *     regex says so), so ASCII lower-casing is exactly PostgreSQL's lower() on it.
 *   - in SQL (finish_sql): initcap(first_name), initcap(last_name), lower(gender). They never
 *     refuse a record, and for non-ASCII names (élodie, ÇAĞLAR) only PostgreSQL's functions
 *     give PostgreSQL's answer: it follows the database's locale, which C cannot know.
 *
 * Dedupe by email (created_users' primary key): each batch COPYs into a temp table whose
 * identity column numbers the rows in the order the loader read them; finish_sql keeps the
 * last one per email (DISTINCT ON (email) ORDER BY email, seq DESC) and upserts it
 * (ON CONFLICT (email) DO UPDATE), so a later record replaces an earlier one within a batch
 * and across batches. Within a partition, read order is offset order, and the producer keys
 * each message by its email (trimmed, lower case), so all records of one email are in one
 * partition and "later" is "sent later"; for messages sent before that (keyed by id, one email
 * in several partitions) Kafka has no order, and the order the loader read them in is the only
 * "later" there is (docs/pipelines.md, "Message keys and ordering"). The merge inserts in email
 * order, so two loaders of one group (--member) lock rows in the same order: no deadlock.
 *
 * Key invariant (as in loader_dvc): a record becomes a row only when every value will be
 * accepted by its column and by created_users' CHECKs, so one bad record can never fail the
 * COPY or the merge, and with them the batch. */
#include "loader_users.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "iso8601.h" /* iso8601_to_pg_utc: ISO 8601 with an offset -> UTC */

#define EMAIL_RULE "^[A-Za-z0-9+_.-]+@[A-Za-z0-9.-]+$"

enum kind {
    K_TEXT,     /* trimmed text, blank = NULL */
    K_REQUIRED, /* trimmed text that must be there (first_name) */
    K_EMAIL,    /* required, lower-cased, EMAIL_RULE */
    K_UUID,     /* a UUID or NULL */
    K_TIME,     /* ISO 8601 with an offset -> UTC, or NULL */
    K_PHONE,    /* its digits only; none = NULL */
};

/* The record's fields in copy_sql's column order. */
static const struct field {
    const char *name;
    enum kind kind;
} fields[LOADER_USERS_COLUMNS] = {
    {"id", K_UUID},      {"first_name", K_REQUIRED},  {"last_name", K_TEXT}, {"gender", K_TEXT},
    {"address", K_TEXT}, {"postal_code", K_TEXT},     {"email", K_EMAIL},    {"username", K_TEXT},
    {"dob", K_TIME},     {"registered_date", K_TIME}, {"phone", K_PHONE},    {"picture", K_TEXT},
};

#define BATCH_COLS                                                                                 \
    "id, first_name, last_name, gender, address, postal_code, email, username, dob, "              \
    "registered_date, phone, picture, source_topic, source_partition, source_offset"

/* ---- one value ------------------------------------------------------------------------ */

/* A field's value in its column: text (NULL = SQL NULL) and its length. */
struct val {
    const char *s;
    size_t len;
    char buf[64]; /* a number's text, a converted timestamp */
    char *own;    /* heap copy: the lower-cased email, the phone's digits */
};

static bool
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* v's text, trimmed: a string, or a number as its JSON text (postal codes come as numbers
 * from some sources); NULL when absent, null or blank. Other types are a problem. */
static void
text_value(const json_t *v, const char *name, struct val *out, struct loader_problems *pr)
{
    int n = -1;

    if (v == NULL || json_is_null(v))
        return;
    if (json_is_string(v)) {
        out->s = json_string_value(v);
        out->len = json_string_length(v);
    } else if (json_is_integer(v)) {
        n = snprintf(out->buf, sizeof(out->buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    } else if (json_is_real(v)) {
        n = snprintf(out->buf, sizeof(out->buf), "%.17g", json_real_value(v));
    } else {
        loader_problem(pr, "%s: text expected, got %s", name, loader_type_name(v));
        return;
    }
    if (n >= 0) {
        out->s = out->buf;
        out->len = (size_t)n < sizeof(out->buf) ? (size_t)n : sizeof(out->buf) - 1;
    }
    while (out->len > 0 && is_space(out->s[0]))
        out->s++, out->len--;
    while (out->len > 0 && is_space(out->s[out->len - 1]))
        out->len--;
    if (out->len == 0)
        out->s = NULL;
}

/* An ASCII letter or digit, or one of extra. */
static bool
in_set(char c, const char *extra)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr(extra, c) != NULL);
}

bool
loader_users_email_ok(const char *s, size_t len)
{
    const char *at = memchr(s, '@', len);
    size_t i;

    if (at == NULL || at == s || at == s + len - 1)
        return false;
    for (i = 0; s + i < at; i++)
        if (!in_set(s[i], "+_.-"))
            return false;
    for (i++; i < len; i++)
        if (!in_set(s[i], ".-"))
            return false;
    return true;
}

/* 8-4-4-4-12 hexadecimal digits, either case (the form randomuser's login.uuid has). */
static bool
uuid_ok(const char *s, size_t len)
{
    if (len != 36)
        return false;
    for (size_t i = 0; i < len; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        bool hex = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
                   (s[i] >= 'A' && s[i] <= 'F');
        if (dash ? s[i] != '-' : !hex)
            return false;
    }
    return true;
}

/* The email: required, lower-cased into out->own, EMAIL_RULE. */
static int
email_value(const struct field *f, struct val *out, struct loader_problems *pr, struct err *e)
{
    if (out->s == NULL) {
        loader_problem(pr, "%s missing", f->name);
        return 0;
    }
    if ((out->own = malloc(out->len + 1)) == NULL)
        return err_set(e, ERR_FAIL, "out of memory");
    for (size_t i = 0; i < out->len; i++)
        out->own[i] = out->s[i] >= 'A' && out->s[i] <= 'Z' ? (char)(out->s[i] + 32) : out->s[i];
    out->own[out->len] = '\0';
    if (!loader_users_email_ok(out->own, out->len))
        loader_problem(pr, "%s '%.*s' does not match " EMAIL_RULE, f->name,
                       loader_quote_len(out->s, out->len, 80), out->s);
    out->s = out->own;
    return 0;
}

/* A timestamp with an offset, converted to UTC in out->buf. */
static void
time_value(const struct field *f, struct val *out, struct loader_problems *pr)
{
    char in[64];
    struct err e = {0};

    if (out->len >= sizeof(in)) {
        loader_problem(pr, "%s: bad timestamp '%.*s...': too long", f->name,
                       loader_quote_len(out->s, out->len, 40), out->s);
        return;
    }
    memcpy(in, out->s, out->len);
    in[out->len] = '\0';
    if (iso8601_to_pg_utc(in, out->buf, sizeof(out->buf), &e) < 0) {
        loader_problem(pr, "%s: bad timestamp '%s': %s", f->name, in, e.msg);
        return;
    }
    out->s = out->buf;
    out->len = strlen(out->buf);
}

/* The phone's digits into out->own; NULL when it has none. */
static int
phone_value(struct val *out, struct err *e)
{
    size_t n = 0;

    if ((out->own = malloc(out->len + 1)) == NULL)
        return err_set(e, ERR_FAIL, "out of memory");
    for (size_t i = 0; i < out->len; i++)
        if (out->s[i] >= '0' && out->s[i] <= '9')
            out->own[n++] = out->s[i];
    out->own[n] = '\0';
    out->s = n ? out->own : NULL;
    out->len = n;
    return 0;
}

/* Field f of rec, cleaned, into out; its problems into pr. -1 only when out of memory. */
static int
field_value(const json_t *rec, const struct field *f, struct val *out, struct loader_problems *pr,
            struct err *e)
{
    int before = pr->n;

    text_value(json_object_get(rec, f->name), f->name, out, pr);
    if (pr->n > before)
        return 0;
    switch (f->kind) {
    case K_TEXT:
        break;
    case K_REQUIRED:
        if (out->s == NULL)
            loader_problem(pr, "%s missing", f->name);
        break;
    case K_EMAIL:
        return email_value(f, out, pr, e);
    case K_UUID:
        if (out->s && !uuid_ok(out->s, out->len))
            loader_problem(pr, "%s: '%.*s' is not a UUID", f->name,
                           loader_quote_len(out->s, out->len, 60), out->s);
        break;
    case K_TIME:
        if (out->s)
            time_value(f, out, pr);
        break;
    case K_PHONE:
        return out->s ? phone_value(out, e) : 0;
    }
    return 0;
}

/* ---- records and messages ------------------------------------------------------------ */

/* The record's COPY row, when every field is valid. */
static int
row_build(const struct val *v, const struct loader_msg *m, struct pgconn_row *row, struct err *e)
{
    pgconn_row_reset(row);
    for (int i = 0; i < LOADER_USERS_COLUMNS; i++)
        if (pgconn_row_addn(row, v[i].s, v[i].len, e) < 0)
            return -1;
    return loader_row_source(row, m, e);
}

/* One user: a row when every field is valid, else a dead letter naming every problem. */
static int
record_emit(const json_t *rec, const struct loader_msg *m, struct pgconn_row *row,
            const struct loader_sink *sink, struct err *e)
{
    struct val v[LOADER_USERS_COLUMNS];
    struct loader_problems pr = {.len = 0, .n = 0};
    int rc = 0;

    memset(v, 0, sizeof(v));
    for (int i = 0; i < LOADER_USERS_COLUMNS && rc == 0; i++)
        rc = field_value(rec, &fields[i], &v[i], &pr, e);
    if (rc == 0 && pr.n > 0)
        rc = sink->dead(sink->ctx, m->value, m->vlen, pr.text, e);
    else if (rc == 0 && (rc = row_build(v, m, row, e)) == 0)
        rc = sink->row(sink->ctx, row, e);
    for (int i = 0; i < LOADER_USERS_COLUMNS; i++)
        free(v[i].own);
    return rc;
}

static int
users_parse(const struct loader_msg *m, struct pgconn_row *row, const struct loader_sink *sink,
            struct err *e)
{
    return loader_parse_object(m, row, sink, record_emit, e);
}

const struct loader_pipeline loader_users = {
    .name = "users",
    .default_topic = "users_created",
    .default_group = "created_users",
    /* The batch's rows, numbered by seq in the order they were read; dropped at COMMIT. */
    .prepare_sql = "CREATE TEMP TABLE created_users_batch ("
                   " seq bigint GENERATED ALWAYS AS IDENTITY, id uuid, first_name text,"
                   " last_name text, gender text, address text, postal_code text, email text,"
                   " username text, dob timestamptz, registered_date timestamptz, phone text,"
                   " picture text, source_topic text, source_partition integer,"
                   " source_offset bigint) ON COMMIT DROP",
    .copy_sql = "COPY created_users_batch (" BATCH_COLS ") FROM STDIN",
    /* The last record read per email wins; initcap/lower are PostgreSQL's own. */
    .finish_sql =
        "INSERT INTO created_users AS u (email, id, first_name, last_name, gender, address,"
        " postal_code, username, dob, registered_date, phone, picture, source_topic,"
        " source_partition, source_offset)"
        " SELECT DISTINCT ON (email) email, id, initcap(first_name), initcap(last_name),"
        " lower(gender), address, postal_code, username, dob, registered_date, phone, picture,"
        " source_topic, source_partition, source_offset"
        " FROM created_users_batch ORDER BY email, seq DESC"
        " ON CONFLICT (email) DO UPDATE SET id = EXCLUDED.id, first_name = EXCLUDED.first_name,"
        " last_name = EXCLUDED.last_name, gender = EXCLUDED.gender,"
        " address = EXCLUDED.address, postal_code = EXCLUDED.postal_code,"
        " username = EXCLUDED.username, dob = EXCLUDED.dob,"
        " registered_date = EXCLUDED.registered_date, phone = EXCLUDED.phone,"
        " picture = EXCLUDED.picture, source_topic = EXCLUDED.source_topic,"
        " source_partition = EXCLUDED.source_partition,"
        " source_offset = EXCLUDED.source_offset, updated_at = now()",
    .dead_letter_sql = "INSERT INTO created_users_dead_letters"
                       " (topic, \"partition\", \"offset\", key, payload, reason)"
                       " VALUES ($1, $2, $3, decode($4, 'hex'), decode($5, 'hex'), $6)",
    .parse = users_parse,
};
