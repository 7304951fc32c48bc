/* loader_dvc: parse, validate and transform the drug registry's Kafka messages (topic
 * all_data) into COPY rows of pharmaceutical_data_staging (see loader_dvc.h).
 *
 * A message is what tasks/dvc_crawl sends: a page (one JSON array of flat records, the
 * original's format) or one record (--format record: one JSON object). A flat record has the
 * staging table's 29 columns as camelCase fields (idThuoc, soDangKy, ..., lastModificationTime);
 * a missing field is NULL, unknown fields are ignored. The only file of the loader that sees
 * jansson nodes (STYLE rule 9): rows leave as COPY text, refusals as bytes + reason.
 *
 * Key invariant: a record becomes a row only when every value will be accepted by its column,
 * so one bad record can never make the COPY (and with it the whole batch) fail: soDangKy
 * present and not blank; integers in their column's range (JSON numbers, or strings of
 * digits: "123"); timestamps with an explicit offset, converted here to the same instant in
 * UTC; text any valid UTF-8 (jansson refuses invalid UTF-8 and \u0000 when parsing, which
 * makes the whole message a dead letter). Everything else becomes a dead letter with every
 * problem of the record in its reason, and the next record goes on. */
#include "loader_dvc.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

enum col_kind {
    COL_TEXT,   /* text: strings as sent; numbers and booleans as their JSON text */
    COL_KEY,    /* text that must be present and not blank (soDangKy) */
    COL_INT,    /* integer */
    COL_BIGINT, /* bigint */
    COL_TIME,   /* timestamptz from ISO 8601 with an offset */
};

static const struct col {
    const char *field;
    enum col_kind kind;
} cols[LOADER_DVC_COLUMNS] = {
    {"idThuoc", COL_BIGINT},
    {"soDangKy", COL_KEY},
    {"soDangKyCu", COL_TEXT},
    {"tenThuoc", COL_TEXT},
    {"phanLoaiThuocEnum", COL_INT},
    {"congTyDangKyId", COL_BIGINT},
    {"congTySanXuatId", COL_BIGINT},
    {"creationTime", COL_TIME},
    {"lastModificationTime", COL_TIME},
    {"tenCongTyDangKy", COL_TEXT},
    {"diaChiDangKy", COL_TEXT},
    {"nuocDangKy", COL_TEXT},
    {"tenCongTySanXuat", COL_TEXT},
    {"diaChiSanXuat", COL_TEXT},
    {"nuocSanXuat", COL_TEXT},
    {"fullAddress", COL_TEXT},
    {"dotCap", COL_TEXT},
    {"ngayCapSoDangKy", COL_TIME},
    {"ngayHetHanSoDangKy", COL_TIME},
    {"ngayGiaHanSoDangKy", COL_TIME},
    {"soQuyetDinh", COL_TEXT},
    {"thongTinRutSoDangKy", COL_TEXT},
    {"dangBaoChe", COL_TEXT},
    {"dongGoi", COL_TEXT},
    {"hamLuong", COL_TEXT},
    {"hoatChatChinh", COL_TEXT},
    {"tieuChuan", COL_TEXT},
    {"tieuChuanId", COL_BIGINT},
    {"tuoiTho", COL_TEXT},
};

#define STAGING_COLS                                                                               \
    "idthuoc, sodangky, sodangkycu, tenthuoc, phanloaithuocenum, congtydangkyid, "                 \
    "congtysanxuatid, creationtime, lastmodificationtime, tencongtydangky, diachidangky, "         \
    "nuocdangky, tencongtysanxuat, diachisanxuat, nuocsanxuat, fulladdress, dotcap, "              \
    "ngaycapsodangky, ngayhethansodangky, ngaygiahansodangky, soquyetdinh, thongtinrutsodangky, "  \
    "dangbaoche, donggoi, hamluong, hoatchatchinh, tieuchuan, tieuchuanid, tuoitho"

const char *
loader_dvc_field(int i)
{
    return i >= 0 && i < LOADER_DVC_COLUMNS ? cols[i].field : NULL;
}

/* ---- timestamps ---------------------------------------------------------------------- */

/* Exactly n decimal digits at *p, into *out; advances *p. */
static bool
take_digits(const char **p, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return false;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static bool
take_char(const char **p, const char *set)
{
    if (**p == '\0' || strchr(set, **p) == NULL)
        return false;
    (*p)++;
    return true;
}

static int
days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : days[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The inverse of days_from_civil. */
static void
civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

/* The offset part: Z, or +-HH, +-HHMM, +-HH:MM; *secs east of UTC. */
static bool
take_offset(const char **p, int *secs)
{
    int sign, oh, om = 0;

    if (take_char(p, "Zz")) {
        *secs = 0;
        return true;
    }
    sign = **p == '-' ? -1 : 1;
    if (!take_char(p, "+-") || !take_digits(p, 2, &oh))
        return false;
    if (**p != '\0') {
        take_char(p, ":");
        if (!take_digits(p, 2, &om))
            return false;
    }
    if (oh > 15 || om > 59)
        return false;
    *secs = sign * (oh * 3600 + om * 60);
    return true;
}

int
loader_dvc_timestamp(const char *in, char *out, size_t size, struct err *e)
{
    const char *p = in, *frac = NULL;
    int y, mo, d, h, mi, s, off, nfrac = 0;

    if (!take_digits(&p, 4, &y) || !take_char(&p, "-") || !take_digits(&p, 2, &mo) ||
        !take_char(&p, "-") || !take_digits(&p, 2, &d) || !take_char(&p, "Tt ") ||
        !take_digits(&p, 2, &h) || !take_char(&p, ":") || !take_digits(&p, 2, &mi) ||
        !take_char(&p, ":") || !take_digits(&p, 2, &s))
        return err_set(e, ERR_PARSE, "not an ISO 8601 date and time");
    if (*p == '.') {
        frac = ++p;
        while (isdigit((unsigned char)*p))
            p++;
        nfrac = (int)(p - frac);
        if (nfrac < 1 || nfrac > 9)
            return err_set(e, ERR_PARSE, "1 to 9 fractional digits expected");
    }
    if (*p == '\0')
        return err_set(e, ERR_PARSE, "no UTC offset");
    if (!take_offset(&p, &off) || *p != '\0')
        return err_set(e, ERR_PARSE, "bad UTC offset");
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
        s > 59)
        return err_set(e, ERR_PARSE, "no such date or time");
    int64_t t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - off;
    int64_t days = (t >= 0 ? t : t - 86399) / 86400, sod = t - days * 86400;
    civil_from_days(days, &y, &mo, &d);
    if (y < 1 || y > 9999)
        return err_set(e, ERR_PARSE, "year out of range");
    int n =
        snprintf(out, size, "%04d-%02d-%02d %02d:%02d:%02d%s%.*s+00", y, mo, d, (int)(sod / 3600),
                 (int)(sod / 60 % 60), (int)(sod % 60), frac ? "." : "", nfrac, frac ? frac : "");
    if (n < 0 || (size_t)n >= size)
        return err_set(e, ERR_FAIL, "timestamp buffer too small");
    return 0;
}

/* ---- one value ----------------------------------------------------------------------- */

/* A value's value in a column: text (NULL = SQL NULL) and its length. */
struct val {
    const char *s;
    size_t len;
    char buf[64];
};

static void val_fmt(struct val *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
val_fmt(struct val *out, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    int n = vsnprintf(out->buf, sizeof(out->buf), fmt, ap);
    va_end(ap);
    out->s = out->buf;
    out->len = n < 0 ? 0 : (size_t)n < sizeof(out->buf) ? (size_t)n : sizeof(out->buf) - 1;
}

/* Text: a string as sent, a number or boolean as its JSON text; objects and arrays refused. */
static void
text_value(const json_t *v, const char *field, struct val *out, struct loader_problems *pr)
{
    if (json_is_string(v)) {
        out->s = json_string_value(v);
        out->len = json_string_length(v);
    } else if (json_is_integer(v)) {
        val_fmt(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    } else if (json_is_real(v)) {
        val_fmt(out, "%.17g", json_real_value(v));
    } else if (json_is_boolean(v)) {
        val_fmt(out, "%s", json_is_true(v) ? "true" : "false");
    } else if (v != NULL && !json_is_null(v)) {
        loader_problem(pr, "%s: text expected, got %s", field, loader_type_name(v));
    }
}

/* soDangKy: text, present, not blank. */
static void
key_value(const json_t *v, const char *field, struct val *out, struct loader_problems *pr)
{
    if (v == NULL || json_is_null(v)) {
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

/* An integer in [min, max]: a JSON integer, an integral real, or a string of digits ("" and
 * blanks = NULL). */
static void
int_value(const json_t *v, const char *field, long long min, long long max, struct val *out,
          struct loader_problems *pr)
{
    long long n;

    if (v == NULL || json_is_null(v))
        return;
    if (json_is_integer(v)) {
        n = json_integer_value(v);
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d != floor(d) || fabs(d) >= 9.2e18) {
            loader_problem(pr, "%s: %.17g is not an integer", field, d);
            return;
        }
        n = (long long)d;
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v), *end = s + json_string_length(v);
        char *stop;
        while (s < end && isspace((unsigned char)*s))
            s++;
        while (end > s && isspace((unsigned char)end[-1]))
            end--;
        if (s == end)
            return; /* "" is how dirty sources say "none" */
        errno = 0;
        n = strtoll(s, &stop, 10);
        if (stop != end || errno != 0 || !(isdigit((unsigned char)*s) || *s == '-' || *s == '+')) {
            loader_problem(pr, "%s: '%.*s' is not an integer", field,
                           loader_quote_len(json_string_value(v), json_string_length(v), 40),
                           json_string_value(v));
            return;
        }
    } else {
        loader_problem(pr, "%s: integer expected, got %s", field, loader_type_name(v));
        return;
    }
    if (n < min || n > max) {
        loader_problem(pr, "%s: %lld out of range", field, n);
        return;
    }
    val_fmt(out, "%lld", n);
}

/* A timestamp string with an offset, converted to UTC ("" and blanks = NULL). */
static void
time_value(const json_t *v, const char *field, struct val *out, struct loader_problems *pr)
{
    struct err e = {0};
    const char *s;

    if (v == NULL || json_is_null(v))
        return;
    if (!json_is_string(v)) {
        loader_problem(pr, "%s: timestamp expected, got %s", field, loader_type_name(v));
        return;
    }
    s = json_string_value(v);
    if (s[strspn(s, " \t\r\n")] == '\0')
        return;
    if (loader_dvc_timestamp(s, out->buf, sizeof(out->buf), &e) < 0) {
        loader_problem(pr, "%s: bad timestamp '%.*s': %s", field,
                       loader_quote_len(s, strlen(s), 40), s, e.msg);
        return;
    }
    out->s = out->buf;
    out->len = strlen(out->buf);
}

static void
col_value(const json_t *rec, const struct col *c, struct val *out, struct loader_problems *pr)
{
    const json_t *v = json_object_get(rec, c->field);

    out->s = NULL;
    out->len = 0;
    switch (c->kind) {
    case COL_TEXT:
        text_value(v, c->field, out, pr);
        break;
    case COL_KEY:
        key_value(v, c->field, out, pr);
        break;
    case COL_INT:
        int_value(v, c->field, INT32_MIN, INT32_MAX, out, pr);
        break;
    case COL_BIGINT:
        int_value(v, c->field, INT64_MIN, INT64_MAX, out, pr);
        break;
    case COL_TIME:
        time_value(v, c->field, out, pr);
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

/* One record: a row when every value is valid, else a dead letter (raw NULL: rec's JSON). */
static int
record_emit(const json_t *rec, const struct loader_msg *m, const char *raw, size_t rawlen,
            const char *prefix, struct pgconn_row *row, const struct loader_sink *sink,
            struct err *e)
{
    struct loader_problems pr = {.len = 0, .n = 0};
    struct val v;

    if (!json_is_object(rec))
        return dead(sink, rec, raw, rawlen, prefix, "not a JSON object", e);
    pgconn_row_reset(row);
    for (int i = 0; i < LOADER_DVC_COLUMNS; i++) {
        col_value(rec, &cols[i], &v, &pr);
        if (pr.n == 0 && pgconn_row_addn(row, v.s, v.len, e) < 0)
            return -1;
    }
    if (pr.n > 0)
        return dead(sink, rec, raw, rawlen, prefix, pr.text, e);
    if (pgconn_row_add(row, m->topic, e) < 0 || pgconn_row_addf(row, e, "%d", m->partition) < 0 ||
        pgconn_row_addf(row, e, "%" PRId64, m->offset) < 0)
        return -1;
    return sink->row(sink->ctx, row, e);
}

static int
dvc_parse(const struct loader_msg *m, struct pgconn_row *row, const struct loader_sink *sink,
          struct err *e)
{
    json_error_t je;
    json_t *root;
    char reason[300], prefix[40];
    int rc = 0;

    if (m->value == NULL || m->vlen == 0)
        return sink->dead(sink->ctx, m->value, m->vlen, "empty message", e);
    if ((root = json_loadb(m->value, m->vlen, JSON_DECODE_ANY, &je)) == NULL) {
        snprintf(reason, sizeof(reason), "bad JSON: %s (line %d, column %d)", je.text, je.line,
                 je.column);
        return sink->dead(sink->ctx, m->value, m->vlen, reason, e);
    }
    if (json_is_array(root)) {
        for (size_t i = 0; i < json_array_size(root) && rc == 0; i++) {
            snprintf(prefix, sizeof(prefix), "item %zu: ", i);
            rc = record_emit(json_array_get(root, i), m, NULL, 0, prefix, row, sink, e);
        }
    } else if (json_is_object(root)) {
        rc = record_emit(root, m, m->value, m->vlen, "", row, sink, e);
    } else {
        rc = sink->dead(sink->ctx, m->value, m->vlen, "not a JSON object or array", e);
    }
    json_decref(root);
    return rc;
}

const struct loader_pipeline loader_dvc = {
    .name = "dvc",
    .default_topic = "all_data",
    .default_group = "dvc_staging",
    .copy_sql = "COPY pharmaceutical_data_staging (" STAGING_COLS
                ", source_topic, source_partition, source_offset) FROM STDIN",
    .dead_letter_sql = "INSERT INTO pharmaceutical_dead_letters"
                       " (topic, \"partition\", \"offset\", key, payload, reason)"
                       " VALUES ($1, $2, $3, decode($4, 'hex'), decode($5, 'hex'), $6)",
    .prepare_sql = NULL,
    .finish_sql = NULL,
    .parse = dvc_parse,
};
