/* wiki_stream: MediaWiki RecentChanges into Kafka, incrementally (issue 6, task
 * streaming_wiki_data of wiki_data_dag).
 *
 * It reads its position in crawl_state (--job-name: last_crawl_time = the time of the last
 * change sent, details.rcid = its rcid, details.max_rcid = the largest rcid sent so far; none
 * on the first run), then pages through list=recentchanges oldest first (rcdir=newer) from
 * that time minus --overlap (first run: now minus --since) up to the time the run started
 * (rcend), following rccontinue, one request at a time at most --rate per second with a
 * descriptive User-Agent (Wikimedia's policy: tool/version, contact, library). Each change
 * becomes one JSON object keyed by rcid (rcid, title, time, username, change_type, pageId,
 * oldsize, newsize, revisionId, old_revisionId; hidden users and log rows without sizes have
 * nulls) on --topic.
 *
 * Why oldest first: the position then only moves forward through a prefix of the stream, so a
 * run cut short by --duration still advances the watermark safely to the last change it sent,
 * and the next run resumes exactly there. Exact duplicates are skipped: a change is sent when
 * it comes after the stored position in (timestamp, rcid) order, or when its rcid is above
 * every rcid sent before (a change that became visible late with an earlier timestamp, which
 * --overlap re-reads for).
 *
 * Key invariant: the position moves only after every page of the run was fetched and every
 * message acknowledged (kq_flush returned 0), in one statement that never moves it backwards;
 * a change dated after the clock plus --max-clock-skew (an API that ignored rcend) is sent
 * and reported but moves neither the position nor max_rcid (crawl_newest).
 * A page that still fails after --max-tries, an unreachable broker or database end the run
 * with exit 111 and the watermark where it was; SIGTERM likewise (exit 1). */
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crawl.h"
#include "clock.h"
#include "dvc_record.h" /* dvc_time_parse/format: ISO 8601 instants in ticks */
#include "http.h"
#include "kafka.h"
#include "pgconn.h"
#include "task.h"

#define USAGE                                                                                      \
    "wiki_stream [--api-url URL] [--topic T] [--job-name J] [--since 1d] [--duration D]\n"         \
    "            [--overlap 60s] [--database-url URL | --conn-id ID] [-X key=value]...\n"          \
    "Send MediaWiki recent changes (list=recentchanges, oldest first, rccontinue paging) newer\n"  \
    "than the position in crawl_state (first run: --since ago) up to now to Kafka, one JSON\n"     \
    "object per change keyed by rcid; then advance the position. --duration bounds the run.\n"     \
    "Exit 0 done; 1 failure (SIGTERM, API refusal, SQL error); 100 bad arguments; 111 the API,\n"  \
    "the broker or the database unreachable. XCom: pages, changes_sent, watermark_before/after."

#define RCPROP                                                                                     \
    "title%%7Cids%%7Csizes%%7Cflags%%7Cuser%%7Ctimestamp%%7Cloginfo" /* (a format string) */
#define TOOL_VERSION "0.1"

enum {
    RUN_SLICE_MS = 200, /* how often the loop looks at the stop flag */
    MAX_ODD_LOGS = 20,  /* odd changes logged one by one; the rest only counted */
    TIME_MAX = 40
};

struct cfg {
    const char *api_url, *topic, *job, *db_url, *contact;
    char *user_agent; /* owned */
    int max_tries;
    double since_s, duration_s, overlap_s, rate, timeout_s, flush_s, skew_s;
    struct task_list x, props;
};

static void
cfg_free(void *arg)
{
    struct cfg *c = arg;

    free(c->user_agent);
    crawl_lists_clear(&c->x, &c->props);
}

/* A place in the stream: changes are ordered by (timestamp, rcid). */
struct pos {
    int64_t ticks;
    long long rcid;
};

struct run {
    const struct cfg *cfg;
    struct http_client *http;
    struct kq_producer *kp;
    int64_t now;               /* ticks when the run started: rcend */
    bool has_state;            /* a position was stored */
    struct pos from;           /* the stored position */
    long long max_rcid;        /* the largest rcid sent, stored and this run's */
    bool moved;                /* a change not in the future was sent: at is meaningful */
    struct pos at;             /* the last change sent, changes dated in the future left out */
    struct crawl_newest clock; /* which changes are dated in the future (crawl.h) */
    char cont[128];            /* rccontinue of the next page, "" for the first */
    bool complete;             /* paged up to rcend (false when --duration cut it) */
    long long pages, sent, dups, odd;
    bool kafka_failed;
};

/* ---- options -------------------------------------------------------------------------- */

static int
cfg_check(struct cfg *c, const char *since, const char *duration, const char *overlap,
          const char *rate, const char *timeout, const char *tries, const char *flush,
          const char *skew, struct err *e)
{
    char *end;
    long t = strtol(tries, &end, 10);

    if (crawl_duration_arg("--since", since, true, &c->since_s, e) < 0 ||
        crawl_duration_arg("--duration", duration, false, &c->duration_s, e) < 0 ||
        crawl_duration_arg("--overlap", overlap, false, &c->overlap_s, e) < 0 ||
        crawl_duration_arg("--timeout", timeout, true, &c->timeout_s, e) < 0 ||
        crawl_duration_arg("--flush-timeout", flush, true, &c->flush_s, e) < 0 ||
        crawl_duration_arg("--max-clock-skew", skew, false, &c->skew_s, e) < 0)
        return -1;
    if (*tries == '\0' || *end != '\0' || t < 1 || t > 100)
        return err_set(e, ERR_USAGE, "--max-tries: '%s' is not an integer from 1 to 100", tries);
    c->max_tries = (int)t;
    c->rate = strtod(rate, &end);
    if (*rate == '\0' || *end != '\0' || !isfinite(c->rate) || c->rate <= 0 || c->rate > 100)
        return err_set(e, ERR_USAGE,
                       "--rate: '%s' is not a number of requests per second in "
                       "(0, 100]",
                       rate);
    if (c->topic[0] == '\0' || c->job[0] == '\0' || strlen(c->job) > 250)
        return err_set(e, ERR_USAGE, "--topic and --job-name (at most 250 bytes) must be set");
    if (c->api_url[0] == '\0' || strchr(c->api_url, '?') != NULL)
        return err_set(e, ERR_USAGE, "--api-url: '%s' is not an api.php URL without a query",
                       c->api_url);
    if (c->contact[0] == '\0')
        return err_set(e, ERR_USAGE, "--contact is empty (Wikimedia's User-Agent policy)");
    /* Wikimedia's User-Agent policy: tool/version (contact) library */
    if (asprintf(&c->user_agent, "gust-wiki_stream/" TOOL_VERSION " (%s; gust data pipeline) %s",
                 c->contact, "libcurl") < 0)
        return err_set(e, ERR_FAIL, "out of memory");
    return 0;
}

/* Parse argv into c. 0, TASK_HELP or -1. */
static int
cfg_parse(int argc, char **argv, void *arg, struct err *e)
{
    struct cfg *c = arg;
    const char *since, *duration, *overlap, *rate, *timeout, *tries, *flush, *skew, *conn_id = NULL;
    struct task_opt opts[] = {
        {"--api-url", "WIKI_API_URL", "https://en.wikipedia.org/w/api.php", "the api.php endpoint",
         &c->api_url, false, NULL},
        {"--topic", "WIKI_TOPIC", "recent_changes", "Kafka topic", &c->topic, false, NULL},
        {"--job-name", "WIKI_JOB_NAME", "wiki_data_dag", "crawl_state.job_name", &c->job, false,
         NULL},
        {"--since", "WIKI_SINCE", "1d", "first run: changes this far back", &since, false, NULL},
        {"--duration", "WIKI_DURATION", "0", "stop paging after this long (0: no bound)", &duration,
         false, NULL},
        {"--overlap", "WIKI_OVERLAP", "60s", "re-read this much before the position", &overlap,
         false, NULL},
        {"--contact", "WIKI_CONTACT", "+https://github.com/gust",
         "contact URL or e-mail for the User-Agent", &c->contact, false, NULL},
        {"--rate", "WIKI_RATE", "2", "request starts per second at most", &rate, false, NULL},
        CRAWL_OPT_TIMEOUT("WIKI_TIMEOUT", &timeout),
        {"--max-tries", "WIKI_MAX_TRIES", "5", "tries per page, the first included", &tries, false,
         NULL},
        CRAWL_OPT_SKEW("WIKI_MAX_CLOCK_SKEW", &skew),
        CRAWL_OPTS_END_DB("WIKI_FLUSH_TIMEOUT", "120s", &flush, &c->db_url, &conn_id, &c->x),
    };
    int rc = crawl_parse(argc, argv, opts, USAGE, &c->x, &c->props, e);

    if (rc == 0 && pgconn_target(&c->db_url, conn_id, e) < 0)
        return -1;

    return rc != 0 ? rc
                   : cfg_check(c, since, duration, overlap, rate, timeout, tries, flush, skew, e);
}

/* ---- the API answer ------------------------------------------------------------------- */

/* MediaWiki errors worth another try: replication lag, rate limits, read-only, internal. */
static bool
error_retryable(const char *code)
{
    return code != NULL &&
           (strcmp(code, "maxlag") == 0 || strcmp(code, "ratelimited") == 0 ||
            strcmp(code, "readonly") == 0 || strncmp(code, "internal_api_error", 18) == 0);
}

/* Check one answer: {"query": {"recentchanges": [...]}} with an optional continue.rccontinue
 * string, or an error envelope (*changes NULL then, *root holds it). */
static int
answer_parse(const char *body, size_t size, json_t **root, json_t **changes, struct err *e)
{
    json_error_t je;
    json_t *doc = json_loadb(body, size, 0, &je), *err, *cont;

    *root = doc;
    *changes = NULL;
    if (!json_is_object(doc)) {
        json_decref(doc);
        *root = NULL;
        return err_set(e, ERR_PARSE, "not a JSON object%s%s", doc ? "" : ": ", doc ? "" : je.text);
    }
    if ((err = json_object_get(doc, "error")) != NULL) {
        const char *code = json_string_value(json_object_get(err, "code"));
        return error_retryable(code) ? err_set(e, ERR_PARSE, "the API said %s: %s", code,
                                               json_string_value(json_object_get(err, "info")))
                                     : 0;
    }
    *changes = json_object_get(json_object_get(doc, "query"), "recentchanges");
    cont = json_object_get(doc, "continue");
    if (!json_is_array(*changes))
        return err_set(e, ERR_PARSE, "no query.recentchanges array");
    if (cont != NULL && !json_is_string(json_object_get(cont, "rccontinue")))
        return err_set(e, ERR_PARSE, "continue without an rccontinue string");
    return 0;
}

static int
answer_validate(const char *body, size_t size, struct err *e)
{
    json_t *root, *changes;
    int rc = answer_parse(body, size, &root, &changes, e);

    json_decref(root);
    return rc;
}

/* An integer value, else null. */
static json_t *
int_or_null(const json_t *v)
{
    return json_is_integer(v) ? json_integer(json_integer_value(v)) : json_null();
}

static json_t *
text_or_null(const json_t *v)
{
    return json_is_string(v) ? json_string(json_string_value(v)) : json_null();
}

/* The message of one change (new reference). */
static json_t *
change_record(const json_t *c, long long rcid)
{
    return json_pack("{s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "rcid", (json_int_t)rcid,
                     "title", text_or_null(json_object_get(c, "title")), "time",
                     text_or_null(json_object_get(c, "timestamp")), "username",
                     text_or_null(json_object_get(c, "user")), "change_type",
                     text_or_null(json_object_get(c, "type")), "pageId",
                     int_or_null(json_object_get(c, "pageid")), "oldsize",
                     int_or_null(json_object_get(c, "oldlen")), "newsize",
                     int_or_null(json_object_get(c, "newlen")), "revisionId",
                     int_or_null(json_object_get(c, "revid")), "old_revisionId",
                     int_or_null(json_object_get(c, "old_revid")));
}

/* ---- sending -------------------------------------------------------------------------- */

static bool
pos_after(struct pos a, struct pos b)
{
    return a.ticks > b.ticks || (a.ticks == b.ticks && a.rcid > b.rcid);
}

/* Whether a change at p was not sent by an earlier run (see the top comment). */
static bool
is_new(const struct run *r, struct pos p)
{
    return !r->has_state || pos_after(p, r->from) || p.rcid > r->max_rcid;
}

/* s, or "?" when NULL (for log lines). */
static const char *
or_q(const char *s)
{
    return s != NULL ? s : "?";
}

static void
odd_change(struct run *r, const json_t *c, const char *why)
{
    if (r->odd++ < MAX_ODD_LOGS)
        task_log("odd change rcid=%" JSON_INTEGER_FORMAT " title=%s on page %lld: %s (skipped)",
                 json_integer_value(json_object_get(c, "rcid")),
                 or_q(json_string_value(json_object_get(c, "title"))), r->pages, why);
}

/* Send one change, or count it as a duplicate or odd. */
static int
send_change(struct run *r, const json_t *c, struct err *e)
{
    const json_t *id = json_object_get(c, "rcid");
    const char *ts = json_string_value(json_object_get(c, "timestamp"));
    struct pos p = {0, json_integer_value(id)};
    char key[32], *text;
    json_t *rec;
    int rc;

    if (!json_is_integer(id) || p.rcid <= 0 || ts == NULL ||
        dvc_time_parse(ts, &p.ticks, NULL) < 0) {
        odd_change(r, c, "no rcid or no usable timestamp");
        return 0;
    }
    if (!is_new(r, p)) {
        r->dups++;
        return 0;
    }
    if ((rec = change_record(c, p.rcid)) == NULL ||
        (text = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL) {
        json_decref(rec);
        return err_set(e, ERR_FAIL, "out of memory");
    }
    snprintf(key, sizeof(key), "%lld", p.rcid);
    rc = kq_produce(r->kp, r->cfg->topic, key, strlen(key), text, strlen(text), e);
    free(text);
    json_decref(rec);
    if (rc < 0)
        return err_prefix(e, "rcid=%lld", p.rcid);
    r->sent++;
    if (!crawl_newest_note(&r->clock, p.ticks, key))
        return 0; /* sent, but neither the position nor max_rcid: an API that ignored rcend */
    if (!r->moved || pos_after(p, r->at))
        r->at = p;
    r->moved = true;
    if (p.rcid > r->max_rcid)
        r->max_rcid = p.rcid;
    return 0;
}

/* One successful answer: send its changes, remember where the next page starts. */
static int
take_page(struct run *r, const struct http_response *resp, struct err *e)
{
    json_t *root, *changes, *c;
    const char *cont;
    size_t i;
    int rc = 0;

    if (answer_parse(resp->body, resp->size, &root, &changes, e) < 0) {
        e->temporary = true; /* the validator accepted it: cannot happen, but never success */
        json_decref(root);
        return err_prefix(e, "page %lld", r->pages + 1);
    }
    if (changes == NULL) { /* an error envelope that no retry can fix */
        json_t *err = json_object_get(root, "error");
        err_set(e, ERR_FAIL, "the API refused: %s: %s",
                or_q(json_string_value(json_object_get(err, "code"))),
                or_q(json_string_value(json_object_get(err, "info"))));
        json_decref(root);
        return -1;
    }
    r->pages++;
    json_array_foreach(changes, i, c)
    {
        if ((rc = send_change(r, c, e)) < 0)
            break;
    }
    cont = json_string_value(json_object_get(json_object_get(root, "continue"), "rccontinue"));
    if (rc == 0 && cont != NULL && strcmp(cont, r->cont) == 0)
        rc = err_set(e, ERR_FAIL, "page %lld: rccontinue '%s' did not move", r->pages, cont);
    snprintf(r->cont, sizeof(r->cont), "%s", cont ? cont : "");
    r->complete = cont == NULL;
    json_decref(root);
    return rc;
}

/* The URL of the next page (malloc'd). */
static char *
page_url(const struct run *r, const char *start, const char *end)
{
    char *url = NULL, contq[256] = "";

    if (r->cont[0] != '\0') {
        char *bar = strchr(r->cont, '|');
        snprintf(contq, sizeof(contq), "&rccontinue=%.*s%%7C%s&continue=-%%7C%%7C",
                 bar ? (int)(bar - r->cont) : (int)strlen(r->cont), r->cont, bar ? bar + 1 : "");
    }
    if (asprintf(&url,
                 "%s?action=query&list=recentchanges&format=json&rcprop=" RCPROP
                 "&rclimit=500&rcdir=newer&rcstart=%s&rcend=%s%s",
                 r->cfg->api_url, start, end, contq) < 0)
        return NULL;
    return url;
}

/* Fetch one page (one request, its retries bounded by the client). */
static int
fetch_page(struct run *r, const char *start, const char *end, struct err *e)
{
    char *url = page_url(r, start, end), label[48];
    struct http_response *resp = NULL;
    int rc;

    if (url == NULL)
        return err_set(e, ERR_FAIL, "out of memory");
    snprintf(label, sizeof(label), "page %lld", r->pages + 1);
    struct http_request rq = {.method = HTTP_GET, .url = url, .label = label};
    rc = http_submit(r->http, &rq, e);
    free(url);
    while (rc == 0 && (resp = http_next_done(r->http)) == NULL) {
        if (task_stopping())
            return err_set(e, ERR_FAIL, "stopped by signal %d after %lld page(s)",
                           task_stop_signal(), r->pages);
        if (http_client_run(r->http, RUN_SLICE_MS, e) < 0)
            return err_prefix(e, "fetch");
    }
    if (rc < 0)
        return err_prefix(e, "submit");
    rc = resp->err.code == ERR_OK
             ? take_page(r, resp, e)
             : crawl_request_failed(resp, e, "the API is down (after %lld page(s))", r->pages);
    http_response_free(resp);
    return rc;
}

/* ---- the run -------------------------------------------------------------------------- */

/* Page from start up to end (ticks) or until --duration has passed. */
static int
run_pages(struct run *r, int64_t start, double started, struct err *e)
{
    const struct cfg *c = r->cfg;
    struct http_opts o = {
        .user_agent = c->user_agent,
        .timeout_ms = (long)(c->timeout_s * 1000),
        .max_parallel = 1, /* Wikimedia: one request at a time */
        .min_interval_ms = (long)ceil(1000.0 / c->rate),
        .max_tries = c->max_tries,
        .validate = answer_validate,
    };
    char from[TIME_MAX], to[TIME_MAX];

    dvc_time_format(start, 0, from, sizeof(from));
    dvc_time_format(r->now, 0, to, sizeof(to));
    task_log("recent changes %s .. %s from %s (job %s, position %s rcid %lld)", from, to,
             c->api_url, c->job, r->has_state ? "stored" : "none", r->from.rcid);
    if ((r->http = http_client_new(&o, e)) == NULL)
        return err_prefix(e, "http client");
    do {
        if (fetch_page(r, from, to, e) < 0)
            return -1;
        if (crawl_delivery_check(r->kp, &r->kafka_failed, e) < 0)
            return -1;
        if (!r->complete && c->duration_s > 0 && clock_mono() - started >= c->duration_s) {
            task_log("--duration reached after %lld page(s): the rest is for the next run",
                     r->pages);
            break;
        }
    } while (!r->complete);
    return 0;
}

/* Move the position to the last change sent; the stored time into after. */
static int
run_store(struct run *r, double started, char *after, size_t size, struct err *e)
{
    char at[TIME_MAX], *details;
    struct crawl_state st;
    int rc;

    dvc_time_format(r->at.ticks, 0, at, sizeof(at));
    details = crawl_dump(json_pack("{s:I, s:I, s:I, s:I, s:b, s:f}", "rcid", r->at.rcid, "max_rcid",
                                   r->max_rcid, "pages", r->pages, "changes_sent", r->sent,
                                   "complete", r->complete, "run_seconds",
                                   round((clock_mono() - started) * 1000) / 1000),
                         true);
    if (details == NULL)
        return err_set(e, ERR_FAIL, "out of memory");
    rc = crawl_state_write(r->cfg->db_url, r->cfg->job, at, details, CRAWL_DETAILS_WITH_TIME, &st,
                           e);
    free(details);
    if (rc == 0 && st.has)
        dvc_time_format(st.ticks, 0, after, size);
    return rc;
}

/* Everything fetched and acknowledged: move the position (when the run sent something),
 * write the XCom result. */
static int
run_finish(struct run *r, const char *before, double started, struct err *e)
{
    char after[TIME_MAX];

    snprintf(after, sizeof(after), "%s", before);
    /* only late changes sent (before the position): keep the position, store their max_rcid */
    if (r->moved && r->has_state && !pos_after(r->at, r->from))
        r->at = r->from;
    if (r->moved && run_store(r, started, after, sizeof(after), e) < 0)
        return -1;
    if (crawl_xcom_write(
            crawl_newest_report(
                &r->clock, json_pack("{s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:b}", "pages", r->pages,
                                     "changes_sent", r->sent, "duplicates_skipped", r->dups, "odd",
                                     r->odd, "watermark_before", crawl_text_or_null(before),
                                     "watermark_after", crawl_text_or_null(after), "rcid",
                                     r->moved       ? json_integer(r->at.rcid)
                                     : r->has_state ? json_integer(r->from.rcid)
                                                    : json_null(),
                                     "complete", r->complete)),
            true, e) < 0)
        return -1;
    task_log("done: %lld page(s), %lld change(s) sent, %lld duplicate(s), %lld odd; watermark "
             "%s -> %s%s in %.1f s",
             r->pages, r->sent, r->dups, r->odd, before[0] ? before : "(none)",
             after[0] ? after : "(none)", r->complete ? "" : " (cut by --duration)",
             clock_mono() - started);
    return 0;
}

/* Read the position; the first time to ask for into *start, the stored time into before. */
static int
run_prepare(struct run *r, int64_t *start, char *before, size_t size, struct err *e)
{
    const struct cfg *c = r->cfg;
    struct crawl_state st;

    r->now = (int64_t)time(NULL) * DVC_TICKS_PER_SEC;
    crawl_newest_init(&r->clock, c->skew_s);
    r->from.rcid = r->max_rcid = -1;
    if (crawl_state_read(c->db_url, c->job, &st, e) < 0)
        return -1;
    before[0] = '\0';
    r->has_state = st.has;
    if (r->has_state) {
        r->from.ticks = st.ticks;
        r->from.rcid = crawl_state_detail(&st, "rcid", -1);
        r->max_rcid = crawl_state_detail(&st, "max_rcid", r->from.rcid);
        dvc_time_format(r->from.ticks, 0, before, size);
        *start = r->from.ticks - (int64_t)llround(c->overlap_s * DVC_TICKS_PER_SEC);
    } else {
        *start = r->now - (int64_t)llround(c->since_s * DVC_TICKS_PER_SEC);
    }
    crawl_state_clear(&st);
    return 0;
}

static void
run_free(struct run *r)
{
    http_client_free(r->http);
    kq_producer_free(r->kp);
}

/* The whole run after the flags: read the position, page, flush, move it. */
static int
run_all(void *cfg, struct err *e)
{
    struct run r = {.cfg = cfg};
    char before[TIME_MAX] = "";
    double started = clock_mono();
    int64_t start = 0;
    int rc = -1;

    if (run_prepare(&r, &start, before, sizeof(before), e) == 0 &&
        (r.kp = kq_producer_new((const char *const *)r.cfg->props.v, e)) != NULL) {
        rc = run_pages(&r, start, started,
                       e); /* then flush: its error first, unless the flush explains it */
        if ((rc = crawl_flush(r.kp, rc, r.cfg->flush_s, r.kafka_failed, e)) == 0)
            rc = run_finish(&r, before, started, e);
    }
    run_free(&r);
    return rc;
}

int
main(int argc, char **argv)
{
    static struct cfg cfg;
    static const struct crawl_prog prog = {"wiki_stream", cfg_parse, run_all, cfg_free,
                                           " (watermark unchanged)"};
    return crawl_main(argc, argv, &prog, &cfg);
}
