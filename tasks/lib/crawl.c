/* crawl: the pieces the crawlers share (see crawl.h): flag checks, the flush that ends a run,
 * the XCom result and the crawl_state row of a job.
 *
 * Key invariant: crawl_state moves in one statement, only forward (GREATEST), and only when
 * the caller says every message was acknowledged; a run that fails leaves it alone. The time
 * a crawler stores comes from crawl_newest, which never takes one past its clock plus skew. */
#include "crawl.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "dvc_record.h" /* dvc_time_parse: ISO 8601 instants in ticks */
#include "pgconn.h"

enum { STOP_FLUSH_MS = 10000 }; /* flush bound after a failure or a signal (the grace period) */

int
crawl_int_arg(const char *flag, const char *s, int lo, int hi, int *out, struct err *e)
{
    char *end;
    long v = strtol(s, &end, 10);

    if (*s == '\0' || *end != '\0' || v < lo || v > hi)
        return err_set(e, ERR_USAGE, "%s: '%s' is not an integer from %d to %d", flag, s, lo, hi);
    *out = (int)v;
    return 0;
}

int
crawl_duration_arg(const char *flag, const char *s, bool positive, double *out, struct err *e)
{
    if (task_parse_duration(s, out) < 0 || (positive && *out <= 0))
        return err_set(e, ERR_USAGE, "%s: '%s' is not a %sduration (90s, 15m, 1d)", flag, s,
                       positive ? "positive " : "");
    return 0;
}

int
crawl_main(int argc, char **argv, const struct crawl_prog *p, void *cfg)
{
    struct err e = {0};
    int rc;

    task_set_name(p->name);
    task_signals_init();
    rc = p->parse(argc, argv, cfg, &e);
    if (rc == 0 && (rc = p->run(cfg, &e)) < 0)
        task_log("error: %s%s", e.msg, p->run_note);
    else if (rc < 0)
        task_log("error: %s", e.msg);
    p->cfg_free(cfg);
    return rc < 0 ? task_exit_code(&e) : TASK_OK;
}

int
crawl_parse(int argc, char **argv, struct task_opt *opts, const char *usage,
            const struct task_list *x, struct task_list *props, struct err *e)
{
    int rc = task_parse(argc, argv, opts, usage, e);

    return rc != 0 ? rc : task_kafka_props(x, NULL, props, e);
}

void
crawl_lists_clear(struct task_list *x, struct task_list *props)
{
    task_list_free(x);
    task_list_free(props);
}

int
crawl_request_failed(const struct http_response *r, struct err *e, const char *fmt, ...)
{
    char what[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    *e = r->err;
    e->temporary = true;
    return err_prefix(e, "%s", what);
}

json_t *
crawl_text_or_null(const char *s)
{
    return s != NULL && s[0] != '\0' ? json_string(s) : json_null();
}

char *
crawl_dump(json_t *obj, bool compact)
{
    size_t flags = JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6) | (compact ? JSON_COMPACT : 0);
    char *s = obj ? json_dumps(obj, flags) : NULL;

    json_decref(obj);
    return s;
}

int
crawl_xcom_write(json_t *obj, bool compact, struct err *e)
{
    char *xcom = crawl_dump(obj, compact);
    int rc;

    if (xcom == NULL)
        return err_set(e, ERR_FAIL, "out of memory");
    rc = task_xcom_write(xcom, e);
    free(xcom);
    return rc;
}

int
crawl_delivery_check(struct kq_producer *kp, bool *failed, struct err *e)
{
    uint64_t n = 0;

    kq_producer_stats(kp, NULL, NULL, &n);
    if (n == 0)
        return 0;
    *failed = true;
    return err_set(e, ERR_IO, "a Kafka delivery failed; stopping");
}

int
crawl_flush(struct kq_producer *kp, int rc, double flush_s, bool delivery_failed, struct err *e)
{
    struct err fe = {0};
    long flush_ms = (long)(flush_s * 1000);

    if (rc < 0 && flush_ms > STOP_FLUSH_MS)
        flush_ms = STOP_FLUSH_MS; /* keep what was produced, within a stop's grace period */
    if (kq_flush(kp, flush_ms > INT_MAX ? INT_MAX : (int)flush_ms, &fe) < 0) {
        if (rc == 0 || delivery_failed)
            *e = fe;
        else
            task_log("also: %s", fe.msg);
        return -1;
    }
    return rc;
}

/* ---- the newest time ---------------------------------------------------------------- */

void
crawl_newest_init(struct crawl_newest *n, double skew_s)
{
    memset(n, 0, sizeof(*n));
    n->limit = (int64_t)llround((clock_wall() + skew_s) * DVC_TICKS_PER_SEC);
}

bool
crawl_newest_note(struct crawl_newest *n, int64_t ticks, const char *key)
{
    if (ticks > n->limit) {
        if (n->future < CRAWL_FUTURE_KEYS)
            snprintf(n->keys[n->future], CRAWL_KEY_MAX, "%s", key ? key : "?");
        n->future++;
        return false;
    }
    if (!n->has || ticks > n->ticks)
        n->ticks = ticks;
    n->has = true;
    return true;
}

json_t *
crawl_newest_report(const struct crawl_newest *n, json_t *obj)
{
    char limit[DVC_TIME_MAX], keys[CRAWL_FUTURE_KEYS * (CRAWL_KEY_MAX + 2)] = "";
    json_t *list = json_array();
    size_t len = 0;

    for (long long i = 0; i < n->future && i < CRAWL_FUTURE_KEYS; i++) {
        json_array_append_new(list, json_string(n->keys[i]));
        len += (size_t)snprintf(keys + len, sizeof(keys) - len, "%s%s", i ? ", " : "", n->keys[i]);
    }
    if (n->future > 0) {
        dvc_time_format(n->limit, 0, limit, sizeof(limit));
        task_log("warning: %lld item(s) dated after %s (the clock plus --max-clock-skew): "
                 "delivered, not used as the watermark; first keys: %s%s",
                 n->future, limit, keys, n->future > CRAWL_FUTURE_KEYS ? ", ..." : "");
    }
    if (obj == NULL || json_object_set_new(obj, "future_items", json_integer(n->future)) < 0) {
        json_decref(list);
        json_decref(obj);
        return NULL;
    }
    if (json_object_set_new(obj, "future_keys", list) < 0) { /* list released */
        json_decref(obj);
        return NULL;
    }
    return obj;
}

/* ---- crawl_state ---------------------------------------------------------------------- */

#define UTC_TEXT(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/* Row 0 of r: column 0 the watermark as UTC text, column 1 (when asked) the details. */
static int
state_take(const struct pgconn_rows *r, const char *job, bool details, struct crawl_state *st,
           struct err *e)
{
    const char *v = pgconn_rows_count(r) > 0 ? pgconn_rows_value(r, 0, 0) : NULL;
    const char *d = details && v != NULL ? pgconn_rows_value(r, 0, 1) : NULL;

    if (v != NULL && dvc_time_parse(v, &st->ticks, e) < 0) {
        err_prefix(e, "crawl_state of %s: last_crawl_time", job);
        e->code = ERR_FAIL;
        return -1;
    }
    st->has = v != NULL;
    st->details = d != NULL ? json_loads(d, JSON_DECODE_ANY, NULL) : NULL;
    return 0;
}

/* Run sql with params on a connection of its own; the first row into st. */
static int
state_query(const char *db_url, const char *what, const char *sql, int n, const char **params,
            bool details, struct crawl_state *st, struct err *e)
{
    struct pgconn *db = pgconn_open(db_url, e);
    struct pgconn_rows *r = NULL;
    int rc = -1;

    memset(st, 0, sizeof(*st));
    if (db == NULL)
        return err_prefix(e, "crawl_state");
    if (pgconn_query(db, sql, n, params, &r, e) < 0)
        err_prefix(e, "%s crawl_state", what);
    else
        rc = state_take(r, params[0], details, st, e);
    pgconn_rows_free(r);
    pgconn_free(db);
    return rc;
}

int
crawl_state_read(const char *db_url, const char *job, struct crawl_state *st, struct err *e)
{
    const char *params[] = {job};

    return state_query(
        db_url, "read",
        "SELECT " UTC_TEXT("last_crawl_time") ", details::text"
                                              " FROM crawl_state WHERE job_name = $1",
        1, params, true, st, e);
}

int
crawl_state_write(const char *db_url, const char *job, const char *at, const char *details,
                  enum crawl_details mode, struct crawl_state *after, struct err *e)
{
#define UPSERT(details_expr)                                                                       \
    "INSERT INTO crawl_state AS s (job_name, last_crawl_time, details, updated_at)"                \
    " VALUES ($1, $2::timestamptz, $3::jsonb, now())"                                              \
    " ON CONFLICT (job_name) DO UPDATE SET"                                                        \
    "  last_crawl_time = GREATEST(s.last_crawl_time, EXCLUDED.last_crawl_time),"                   \
    "  details = " details_expr ", updated_at = now()"                                             \
    " RETURNING " UTC_TEXT("s.last_crawl_time")
    static const char always[] = UPSERT("EXCLUDED.details");
    static const char with_time[] = UPSERT("CASE WHEN s.last_crawl_time IS NULL"
                                           "    OR EXCLUDED.last_crawl_time >= s.last_crawl_time"
                                           "    THEN EXCLUDED.details ELSE s.details END");
#undef UPSERT
    const char *params[] = {job, at, details};

    return state_query(db_url, "write", mode == CRAWL_DETAILS_ALWAYS ? always : with_time, 3,
                       params, false, after, e);
}

long long
crawl_state_detail(const struct crawl_state *st, const char *key, long long dflt)
{
    const json_t *v = st->details ? json_object_get(st->details, key) : NULL;
    const char *s = json_string_value(v);
    char *end;
    long long n;

    if (json_is_integer(v))
        return json_integer_value(v);
    if (s == NULL || *s == '\0')
        return dflt;
    n = strtoll(s, &end, 10);
    return *end == '\0' ? n : dflt;
}

void
crawl_state_clear(struct crawl_state *st)
{
    json_decref(st->details);
    memset(st, 0, sizeof(*st));
}
