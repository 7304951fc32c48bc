/* crawl: what the crawlers (dvc_crawl, wiki_stream, randomuser_stream) share: their flag
 * checks, the watermark of a job in crawl_state, the flush that ends a run's deliveries and
 * the XCom result.
 *
 * A watermark is read at the start of a run and written once, after every message of the run
 * was acknowledged; it never moves backwards, and never past the crawl's clock plus
 * --max-clock-skew (struct crawl_newest). Library code: nothing printed but through
 * task_log, nothing exits. */
#ifndef GUST_CRAWL_H
#define GUST_CRAWL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"
#include "http.h"
#include "kafka.h"
#include "task.h"

/* Option-table rows (struct task_opt) every crawler has: how long to wait for the
 * acknowledgements, the state database, librdkafka properties, the end of the table. */
#define CRAWL_OPT_FLUSH(env, dflt, dst)                                                            \
    {                                                                                              \
        "--flush-timeout", env, dflt, "wait for Kafka acknowledgements", dst, false, NULL          \
    }
#define CRAWL_OPT_DATABASE(dst)                                                                    \
    {                                                                                              \
        "--database-url", "GUST_DATABASE_URL", NULL, "libpq conninfo or URI", dst, false, NULL     \
    }
#define CRAWL_OPT_CONN_ID(dst)                                                                     \
    {                                                                                              \
        "--conn-id", "GUST_CONN_ID", NULL,                                                         \
            "Airflow connection id of the state database (instead of --database-url)", dst, false, \
            NULL                                                                                   \
    }
#define CRAWL_OPT_KAFKA(list)                                                                      \
    {                                                                                              \
        "-X", NULL, NULL, "librdkafka property key=value (also KAFKA_*)", NULL, false, list        \
    }
#define CRAWL_OPT_END                                                                              \
    {                                                                                              \
        NULL, NULL, NULL, NULL, NULL, false, NULL                                                  \
    }
#define CRAWL_OPT_TIMEOUT(env, dst)                                                                \
    {                                                                                              \
        "--timeout", env, "30s", "per request and try", dst, false, NULL                           \
    }
/* The largest distance an item's time may be ahead of the crawl's clock and still become the
 * watermark (docs/pipelines.md, "Items dated in the future"). */
#define CRAWL_OPT_SKEW(env, dst)                                                                   \
    {                                                                                              \
        "--max-clock-skew", env, "5m", "a watermark never passes the clock by more", dst, false,   \
            NULL                                                                                   \
    }
/* The table's last rows: the flush timeout, (the database,) librdkafka properties, the end. */
#define CRAWL_OPTS_END(flush_env, flush_dflt, flush, x)                                            \
    CRAWL_OPT_FLUSH(flush_env, flush_dflt, flush), CRAWL_OPT_KAFKA(x), CRAWL_OPT_END
#define CRAWL_OPTS_END_DB(flush_env, flush_dflt, flush, db, conn_id, x)                            \
    CRAWL_OPT_FLUSH(flush_env, flush_dflt, flush), CRAWL_OPT_DATABASE(db),                         \
        CRAWL_OPT_CONN_ID(conn_id), CRAWL_OPT_KAFKA(x), CRAWL_OPT_END

/* A crawler's program: its flags into cfg (0, TASK_HELP or -1), the run, and cfg's release. */
struct crawl_prog {
    const char *name; /* for task_log */
    int (*parse)(int argc, char **argv, void *cfg, struct err *e);
    int (*run)(void *cfg, struct err *e); /* 0 or -1 */
    void (*cfg_free)(void *cfg);
    const char *run_note; /* appended to the log line of a run's error */
};

/* The main of every crawler: name, signals, parse, run, release; the exit code (task.h). */
int crawl_main(int argc, char **argv, const struct crawl_prog *p, void *cfg);

/* task_parse, then the producer's properties from -X (x) and KAFKA_* into props. 0,
 * TASK_HELP or -1. */
int crawl_parse(int argc, char **argv, struct task_opt *opts, const char *usage,
                const struct task_list *x, struct task_list *props, struct err *e);

/* Empty the lists crawl_parse filled. */
void crawl_lists_clear(struct task_list *x, struct task_list *props);

/* A request that still failed after its tries: -1 with its error in e, marked temporary (the
 * source is down: exit 111), prefixed with the printf-style context. */
int crawl_request_failed(const struct http_response *r, struct err *e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* An integer flag in [lo, hi] into *out; ERR_USAGE otherwise. */
int crawl_int_arg(const char *flag, const char *s, int lo, int hi, int *out, struct err *e);

/* A duration flag (90s, 15m, 1d) in seconds into *out; positive: 0 is refused too. */
int crawl_duration_arg(const char *flag, const char *s, bool positive, double *out, struct err *e);

/* json_string(s), or null for NULL and "" (new reference). */
json_t *crawl_text_or_null(const char *s);

/* Serialise obj (stolen, may be NULL) with fields in order, compact or not; NULL when out of
 * memory. */
char *crawl_dump(json_t *obj, bool compact);

/* Write obj (stolen) as the task's XCom result. */
int crawl_xcom_write(json_t *obj, bool compact, struct err *e);

/* -1 with ERR_IO and *failed set when a delivery of kp failed (the run must stop). */
int crawl_delivery_check(struct kq_producer *kp, bool *failed, struct err *e);

/* After a run that returned rc: wait for the acknowledgements (at most flush_s, at most 10 s
 * after a failure). The run's error wins unless the flush explains it (a delivery failed:
 * delivery_failed). Returns rc, or -1 when the flush failed. */
int crawl_flush(struct kq_producer *kp, int rc, double flush_s, bool delivery_failed,
                struct err *e);

/* The newest item time of a run, for its watermark. An item dated after the crawl's clock
 * (taken once, at init) plus the skew is "in the future": it is delivered but never becomes
 * the watermark, or one bad date would make every later run skip every real change. */
enum { CRAWL_FUTURE_KEYS = 5, CRAWL_KEY_MAX = 64 };
struct crawl_newest {
    int64_t limit;                               /* ticks: the clock at init plus the skew */
    bool has;                                    /* ticks is set */
    int64_t ticks;                               /* the newest time at or before limit */
    long long future;                            /* items dated after limit */
    char keys[CRAWL_FUTURE_KEYS][CRAWL_KEY_MAX]; /* the first few of their keys */
};

/* Start n at the current time plus skew_s seconds. */
void crawl_newest_init(struct crawl_newest *n, double skew_s);

/* Note an item's time: true when it may be the watermark (then taken if newer), false when it
 * is in the future (counted, its key kept among the first few). */
bool crawl_newest_note(struct crawl_newest *n, int64_t ticks, const char *key);

/* obj (stolen, may be NULL) with future_items and future_keys added; the future items logged
 * when there were any. NULL when out of memory. */
json_t *crawl_newest_report(const struct crawl_newest *n, json_t *obj);

/* The row of a job in crawl_state. */
struct crawl_state {
    bool has;        /* last_crawl_time is set */
    int64_t ticks;   /* last_crawl_time (dvc_record.h ticks) */
    json_t *details; /* the details column (new reference, NULL when none) */
};

/* How a write treats the details column. */
enum crawl_details {
    CRAWL_DETAILS_ALWAYS,   /* always the new details */
    CRAWL_DETAILS_WITH_TIME /* only when the time did not move backwards: they describe it */
};

/* Read the watermark of job into st (st->has false when there is no row or it is NULL). */
int crawl_state_read(const char *db_url, const char *job, struct crawl_state *st, struct err *e);

/* Advance the watermark of job to at (UTC text; NULL: keep it), never backwards, with details
 * (JSON text); the stored watermark into after (after->details stays NULL). */
int crawl_state_write(const char *db_url, const char *job, const char *at, const char *details,
                      enum crawl_details mode, struct crawl_state *after, struct err *e);

/* A detail of st as an integer (a JSON integer or a string of digits), else dflt. */
long long crawl_state_detail(const struct crawl_state *st, const char *key, long long dflt);

/* Empty st (its details released). */
void crawl_state_clear(struct crawl_state *st);

#endif
