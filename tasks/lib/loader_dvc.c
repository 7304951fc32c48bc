/* loader_dvc: parse, validate and transform the drug registry's Kafka messages (topic
 * all_data) into COPY rows of pharmaceutical_data_staging (see loader_dvc.h).
 *
 * A message is what tasks/dvc_crawl sends: a page (one JSON array of flat records, the
 * original's format) or one record (--format record: one JSON object). A flat record has the
 * staging table's 29 columns as camelCase fields (idThuoc, soDangKy, ..., lastModificationTime);
 * a missing field is NULL, unknown fields are ignored. The only file of the loader that sees
 * jansson nodes (docs/architecture.md, "Rules"): rows leave as COPY text, refusals as bytes +
 * reason.
 *
 * Speed: a single flat record (the common message) is read by jsonflat_scan in place, with
 * no tree and no allocation; pages and anything it does not call simple (escapes, reals,
 * nested values, duplicate fields, bad JSON...) go to jansson, so both paths give the same
 * rows and the same dead letters (tests/unit/test_loader_dvc.c compares them). Either path
 * ends in the same validators, on struct jsonflat_val values.
 *
 * Key invariant: a record becomes a row only when every value will be accepted by its column,
 * so one bad record can never make the COPY (and with it the whole batch) fail: soDangKy
 * present and not blank; integers in their column's range (JSON numbers, or strings of
 * digits: "123"); timestamps with an explicit offset, converted to the same instant in UTC
 * (iso8601_to_pg_utc); text any valid UTF-8 (jansson refuses invalid UTF-8 and \u0000 when parsing,
 * which makes the whole message a dead letter). Everything else becomes a dead letter with every
 * problem of the record in its reason, and the next record goes on. */
#include "loader_dvc.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "dvc_record.h"
#include "iso8601.h"
#include "jsonflat.h"

/* The 29 flat fields and their column types, in copy_sql's column order: dvc_record's table,
 * the one the crawler writes them from. */
_Static_assert(LOADER_DVC_COLUMNS == DVC_RECORD_FIELDS, "one column per flat field");

#define STAGING_COLS                                                                               \
    "idthuoc, sodangky, sodangkycu, tenthuoc, phanloaithuocenum, congtydangkyid, "                 \
    "congtysanxuatid, creationtime, lastmodificationtime, tencongtydangky, diachidangky, "         \
    "nuocdangky, tencongtysanxuat, diachisanxuat, nuocsanxuat, fulladdress, dotcap, "              \
    "ngaycapsodangky, ngayhethansodangky, ngaygiahansodangky, soquyetdinh, thongtinrutsodangky, "  \
    "dangbaoche, donggoi, hamluong, hoatchatchinh, tieuchuan, tieuchuanid, tuoitho"

const char *
loader_dvc_field(int i)
{
    return i >= 0 && i < LOADER_DVC_COLUMNS ? dvc_record_fields[i] : NULL;
}

/* ---- one value ----------------------------------------------------------------------- */

/* A value's value in a column: text (NULL = SQL NULL) and its length. */
struct val {
    const char *s;
    size_t len;
    char buf[64];
};

/* v's decimal text into out (what "%lld" prints, without printf's cost). */
static void
val_integer(struct val *out, long long v)
{
    char tmp[24];
    size_t n = 0;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u > 0);
    out->len = 0;
    if (v < 0)
        out->buf[out->len++] = '-';
    while (n > 0)
        out->buf[out->len++] = tmp[--n];
    out->buf[out->len] = '\0';
    out->s = out->buf;
}

/* jansson's node as the validators see values (the fast path fills them directly). */
static void
val_of_json(const json_t *v, struct jsonflat_val *out)
{
    out->kind = JF_ABSENT;
    if (v == NULL)
        return;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        out->kind = JF_OBJECT;
        break;
    case JSON_ARRAY:
        out->kind = JF_ARRAY;
        break;
    case JSON_STRING:
        out->kind = JF_STRING;
        out->s = json_string_value(v);
        out->len = json_string_length(v);
        break;
    case JSON_INTEGER:
        out->kind = JF_INTEGER;
        out->i = json_integer_value(v);
        break;
    case JSON_REAL:
        out->kind = JF_REAL;
        out->d = json_real_value(v);
        break;
    case JSON_TRUE:
        out->kind = JF_TRUE;
        break;
    case JSON_FALSE:
        out->kind = JF_FALSE;
        break;
    case JSON_NULL:
        out->kind = JF_NULL;
        break;
    }
}

static bool
val_missing(const struct jsonflat_val *v)
{
    return v->kind == JF_ABSENT || v->kind == JF_NULL;
}

/* Text: a string as sent, a number or boolean as its JSON text; objects and arrays refused. */
static void
text_value(const struct jsonflat_val *v, const char *field, struct val *out,
           struct loader_problems *pr)
{
    switch (v->kind) {
    case JF_STRING:
        out->s = v->s;
        out->len = v->len;
        break;
    case JF_INTEGER:
        val_integer(out, v->i);
        break;
    case JF_REAL:
        snprintf(out->buf, sizeof(out->buf), "%.17g", v->d);
        out->s = out->buf;
        out->len = strlen(out->buf);
        break;
    case JF_TRUE:
    case JF_FALSE:
        out->s = v->kind == JF_TRUE ? "true" : "false";
        out->len = strlen(out->s);
        break;
    case JF_OBJECT:
    case JF_ARRAY:
        loader_problem(pr, "%s: text expected, got %s", field, jsonflat_type_name(v));
        break;
    default:
        break;
    }
}

/* soDangKy: text, present, not blank. */
static void
key_value(const struct jsonflat_val *v, const char *field, struct val *out,
          struct loader_problems *pr)
{
    if (val_missing(v)) {
        loader_problem(pr, "%s missing", field);
        return;
    }
    text_value(v, field, out, pr);
    if (out->s == NULL)
        return;
    for (size_t i = 0; i < out->len; i++)
        if (!isspace((unsigned char)out->s[i]))
            return;
    out->s = NULL;
    loader_problem(pr, "%s empty", field);
}

/* A string of digits (blanks around it allowed) as an integer: 1, 0 for blank ("" is how
 * dirty sources say "none"), -1 when it is not one. */
static int
string_integer(const char *s, size_t len, long long *n)
{
    const char *end = s + len;
    char *stop;

    while (s < end && isspace((unsigned char)*s))
        s++;
    while (end > s && isspace((unsigned char)end[-1]))
        end--;
    if (s == end)
        return 0;
    if (!(isdigit((unsigned char)*s) || *s == '-' || *s == '+'))
        return -1;
    /* The text is not NUL-terminated on the fast path, but strtoll stops at the first byte
     * that is not a digit: the trailing blanks, or the string's closing quote (fast path) or
     * NUL (jansson) right after it. */
    errno = 0;
    *n = strtoll(s, &stop, 10);
    return stop == end && errno == 0 ? 1 : -1;
}

/* An integer in [min, max]: a JSON integer, an integral real, or a string of digits ("" and
 * blanks = NULL). */
static void
int_value(const struct jsonflat_val *v, const char *field, long long min, long long max,
          struct val *out, struct loader_problems *pr)
{
    long long n = 0;
    int rc;

    switch (v->kind) {
    case JF_ABSENT:
    case JF_NULL:
        return;
    case JF_INTEGER:
        n = v->i;
        break;
    case JF_REAL:
        if (v->d != floor(v->d) || fabs(v->d) >= 9.2e18) {
            loader_problem(pr, "%s: %.17g is not an integer", field, v->d);
            return;
        }
        n = (long long)v->d;
        break;
    case JF_STRING:
        if ((rc = string_integer(v->s, v->len, &n)) == 0)
            return;
        if (rc < 0) {
            loader_problem(pr, "%s: '%.*s' is not an integer", field,
                           loader_quote_len(v->s, v->len, 40), v->s);
            return;
        }
        break;
    default:
        loader_problem(pr, "%s: integer expected, got %s", field, jsonflat_type_name(v));
        return;
    }
    if (n < min || n > max) {
        loader_problem(pr, "%s: %lld out of range", field, n);
        return;
    }
    val_integer(out, n);
}

/* A timestamp string with an offset, converted to UTC ("" and blanks = NULL). */
static void
time_value(const struct jsonflat_val *v, const char *field, struct val *out,
           struct loader_problems *pr)
{
    struct err e = {0};
    char small[64], *s = small;

    if (val_missing(v))
        return;
    if (v->kind != JF_STRING) {
        loader_problem(pr, "%s: timestamp expected, got %s", field, jsonflat_type_name(v));
        return;
    }
    /* NUL-terminated for the parser (the fast path's strings are not) */
    if (v->len >= sizeof(small) && (s = malloc(v->len + 1)) == NULL) {
        loader_problem(pr, "%s: out of memory", field);
        return;
    }
    memcpy(s, v->s, v->len);
    s[v->len] = '\0';
    if (s[strspn(s, " \t\r\n")] == '\0') {
        /* blank: NULL */
    } else if (iso8601_to_pg_utc(s, out->buf, sizeof(out->buf), &e) < 0) {
        loader_problem(pr, "%s: bad timestamp '%.*s': %s", field, loader_quote_len(s, v->len, 40),
                       s, e.msg);
    } else {
        out->s = out->buf;
        out->len = strlen(out->buf);
    }
    if (s != small)
        free(s);
}

static void
col_value(const struct jsonflat_val *v, int i, struct val *out, struct loader_problems *pr)
{
    out->s = NULL;
    out->len = 0;
    switch (dvc_field_table[i].type) {
    case DVC_FIELD_TEXT:
        text_value(v, dvc_record_fields[i], out, pr);
        break;
    case DVC_FIELD_KEY:
        key_value(v, dvc_record_fields[i], out, pr);
        break;
    case DVC_FIELD_INT:
        int_value(v, dvc_record_fields[i], INT32_MIN, INT32_MAX, out, pr);
        break;
    case DVC_FIELD_BIGINT:
        int_value(v, dvc_record_fields[i], INT64_MIN, INT64_MAX, out, pr);
        break;
    case DVC_FIELD_TIME:
        time_value(v, dvc_record_fields[i], out, pr);
        break;
    }
}

/* ---- records and messages ---------------------------------------------------------- */

/* Dead-letter raw (or, when raw is NULL, rec's JSON) with "prefix" + reason. */
static int
dead(const struct loader_sink *sink, const json_t *rec, const char *raw, size_t len,
     const char *prefix, const char *reason, struct err *e)
{
    char full[512];
    char *dump = NULL;
    int rc;

    snprintf(full, sizeof(full), "%s%s", prefix, reason);
    if (raw == NULL) {
        dump = json_dumps(rec, JSON_COMPACT | JSON_ENCODE_ANY);
        if (dump == NULL)
            return err_set(e, ERR_FAIL, "dead letter: out of memory");
        raw = dump;
        len = strlen(dump);
    }
    rc = sink->dead(sink->ctx, raw, len, full, e);
    free(dump);
    return rc;
}

/* The source columns: topic, partition, offset. */
static int
row_source(struct pgconn_row *row, const struct loader_msg *m, struct err *e)
{
    struct val v;

    if (pgconn_row_add(row, m->topic, e) < 0)
        return -1;
    val_integer(&v, m->partition);
    if (pgconn_row_addn(row, v.s, v.len, e) < 0)
        return -1;
    val_integer(&v, m->offset);
    return pgconn_row_addn(row, v.s, v.len, e);
}

/* One record's values (vals, in column order): a row when every value is valid, else a dead
 * letter of raw (raw NULL: rec's JSON). */
static int
record_emit(const struct jsonflat_val *vals, const json_t *rec, const struct loader_msg *m,
            const char *raw, size_t rawlen, const char *prefix, struct pgconn_row *row,
            const struct loader_sink *sink, struct err *e)
{
    struct loader_problems pr = {.len = 0, .n = 0};
    struct val v;

    pgconn_row_reset(row);
    for (int i = 0; i < LOADER_DVC_COLUMNS; i++) {
        col_value(&vals[i], i, &v, &pr);
        if (pr.n == 0 && pgconn_row_addn(row, v.s, v.len, e) < 0)
            return -1;
    }
    if (pr.n > 0)
        return dead(sink, rec, raw, rawlen, prefix, pr.text, e);
    if (row_source(row, m, e) < 0)
        return -1;
    return sink->row(sink->ctx, row, e);
}

/* One record parsed by jansson. */
static int
record_emit_json(const json_t *rec, const struct loader_msg *m, const char *raw, size_t rawlen,
                 const char *prefix, struct pgconn_row *row, const struct loader_sink *sink,
                 struct err *e)
{
    struct jsonflat_val vals[LOADER_DVC_COLUMNS];

    if (!json_is_object(rec))
        return dead(sink, rec, raw, rawlen, prefix, "not a JSON object", e);
    for (int i = 0; i < LOADER_DVC_COLUMNS; i++)
        val_of_json(json_object_get(rec, dvc_record_fields[i]), &vals[i]);
    return record_emit(vals, rec, m, raw, rawlen, prefix, row, sink, e);
}

/* A message through jansson: a page, one record, or a dead letter. */
static int
parse_json(const struct loader_msg *m, struct pgconn_row *row, const struct loader_sink *sink,
           struct err *e)
{
    json_error_t je;
    json_t *root;
    char reason[300], prefix[40];
    int rc = 0;

    if ((root = json_loadb(m->value, m->vlen, JSON_DECODE_ANY, &je)) == NULL) {
        snprintf(reason, sizeof(reason), "bad JSON: %s (line %d, column %d)", je.text, je.line,
                 je.column);
        return sink->dead(sink->ctx, m->value, m->vlen, reason, e);
    }
    if (json_is_array(root)) {
        for (size_t i = 0; i < json_array_size(root) && rc == 0; i++) {
            snprintf(prefix, sizeof(prefix), "item %zu: ", i);
            rc = record_emit_json(json_array_get(root, i), m, NULL, 0, prefix, row, sink, e);
        }
    } else if (json_is_object(root)) {
        rc = record_emit_json(root, m, m->value, m->vlen, "", row, sink, e);
    } else {
        rc = sink->dead(sink->ctx, m->value, m->vlen, "not a JSON object or array", e);
    }
    json_decref(root);
    return rc;
}

/* The pipeline's parse: one flat record (what dvc_crawl --format record sends) by the fast
 * scanner; pages and anything the scanner does not call simple by jansson. */
static int
dvc_parse(const struct loader_msg *m, struct pgconn_row *row, const struct loader_sink *sink,
          struct err *e)
{
    struct jsonflat_val vals[LOADER_DVC_COLUMNS];

    if (m->value == NULL || m->vlen == 0)
        return sink->dead(sink->ctx, m->value, m->vlen, "empty message", e);
    if (jsonflat_scan(m->value, m->vlen, dvc_record_fields, LOADER_DVC_COLUMNS, vals) == 0)
        return record_emit(vals, NULL, m, m->value, m->vlen, "", row, sink, e);
    return parse_json(m, row, sink, e);
}

/* The same without the fast scanner (loader_dvc_jansson, for tests). */
static int
dvc_parse_jansson(const struct loader_msg *m, struct pgconn_row *row,
                  const struct loader_sink *sink, struct err *e)
{
    if (m->value == NULL || m->vlen == 0)
        return sink->dead(sink->ctx, m->value, m->vlen, "empty message", e);
    return parse_json(m, row, sink, e);
}

#define DVC_PIPELINE(parse_fn)                                                                     \
    {                                                                                              \
        .name = "dvc", .default_topic = "all_data", .default_group = "dvc_staging",                \
        .copy_sql = "COPY pharmaceutical_data_staging (" STAGING_COLS                              \
                    ", source_topic, source_partition, source_offset) FROM STDIN",                 \
        .dead_letter_sql = "INSERT INTO pharmaceutical_dead_letters"                               \
                           " (topic, \"partition\", \"offset\", key, payload, reason)"             \
                           " VALUES ($1, $2, $3, decode($4, 'hex'), decode($5, 'hex'), $6)",       \
        .prepare_sql = NULL, .finish_sql = NULL, .parse = parse_fn,                                \
    }

const struct loader_pipeline loader_dvc = DVC_PIPELINE(dvc_parse);
const struct loader_pipeline loader_dvc_jansson = DVC_PIPELINE(dvc_parse_jansson);
