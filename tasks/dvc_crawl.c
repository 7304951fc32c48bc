/* dvc_crawl: crawl the Vietnamese drug registry (dichvucong.dav.gov.vn) incrementally into
 * Kafka (issue 5, task extract_data_from_DVC of dvc_flow).
 *
 * It reads its watermark (crawl_state.last_crawl_time for --job-name; NULL = first run, send
 * everything), pages through GetAllPublicServerPaging with bounded parallel POSTs (tasks/lib/
 * http: politeness interval, per-request timeout, bounded retries with backoff, every body
 * validated as a page), flattens each item into the original's 29-field record
 * (tasks/lib/dvc_record) and sends those modified after (watermark - overlap): one JSON array
 * per page (the original's format) or one object per record keyed by soDangKy. With
 * --sorting 'lastModificationTime desc' it processes newest-first pages in order and stops at
 * the first page wholly older than the threshold, after checking that the answer really is
 * sorted; when it is not, it starts over as a full scan.
 *
 * Key invariant (the original's bugs, docs/pipelines.md): the watermark moves only after every page
 * was fetched and every message acknowledged (kq_flush returned 0), to the newest
 * lastModificationTime seen in the whole run (never backwards: GREATEST in the upsert), in one
 * statement; an item dated after the clock plus --max-clock-skew is sent and reported (log,
 * XCom future_items) but never the watermark (crawl_newest, docs/pipelines.md). A page that still
 * fails after --max-tries ends the run with its skipCount in the message (exit 111, never an
 * endless retry); a delivery failure, a signal, a database error likewise leave the watermark where
 * it was. Records already sent by a failed run are sent again by the next one: the loader and the
 * upsert are idempotent (newest version wins). */
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "clock.h"
#include "dvc_record.h"
#include "http.h"
#include "kafka.h"
#include "pgconn.h"
#include "crawl.h"
#include "task.h"

#define USAGE                                                                                      \
    "dvc_crawl [--api-url URL] [--topic T] [--job-name J] [--overlap 1d] [--sorting S]\n"          \
    "          [--format page|record] [--database-url URL | --conn-id ID] [-X key=value]...\n"     \
    "Crawl the drug registry (GetAllPublicServerPaging) into Kafka: items modified after\n"        \
    "crawl_state.last_crawl_time minus --overlap (all on the first run), flattened to the\n"       \
    "original's 29 fields; then advance the watermark to the newest lastModificationTime seen.\n"  \
    "Exit 0 done; 1 failure (SIGTERM, delivery refused, SQL error); 100 bad arguments; 111 a\n"    \
    "page failed after --max-tries, the broker or the database unreachable. XCom: pages,\n"        \
    "items_seen, records_sent, messages_sent, skipped, watermark_before/after, mode,\n"            \
    "future_items, future_keys (items dated after the clock plus --max-clock-skew)."

#define API_PATH "/api/services/app/soDangKy/GetAllPublicServerPaging"
#define SORT_DESC "lastModificationTime desc"

enum {
    MAX_WINDOW = 128,   /* pages submitted and not yet processed, at most */
    MAX_ODD_LOGS = 20,  /* odd items logged one by one; the rest are only counted */
    RUN_SLICE_MS = 200, /* how often the loop looks at the stop flag */
    PREPARE_MS = 2000   /* waiting for the topic's metadata at start (a broker that is down) */
};

struct cfg {
    const char *api_url, *topic, *job, *db_url, *format, *sorting;
    char *url; /* the endpoint (owned) */
    int page_size, parallel, max_tries;
    double overlap_s, timeout_s, rate, flush_s, skew_s;
    bool record_format, sorted;
    struct task_list x, props;
};

static void
cfg_free(void *arg)
{
    struct cfg *c = arg;

    free(c->url);
    crawl_lists_clear(&c->x, &c->props);
}

struct counts {
    long long pages, items, sent, messages, skipped;
};

/* One crawl: the scan under way and what the run saw. */
struct crawl {
    const struct cfg *cfg;
    struct http_client *http;
    struct kq_producer *kp;
    bool has_threshold;
    int64_t threshold;          /* ticks (dvc_record.h) */
    struct crawl_newest newest; /* the watermark to be: items dated in the future left out */
    /* the current scan (a sorted one may be replaced by a full one) */
    bool sorted;                            /* newest-first pages, processed in skipCount order */
    bool end_known;                         /* a first page told totalCount */
    long long next_skip;                    /* next skipCount to submit */
    long long end;                          /* largest totalCount seen */
    long long stop_at;                      /* end of the first short page (LLONG_MAX before one) */
    int pending;                            /* submitted, not yet processed (held ones included) */
    bool finished;                          /* sorted: stopped at an old page or the end */
    struct http_response *held[MAX_WINDOW]; /* sorted: finished before their turn */
    long long next_in_order;                /* sorted: the skipCount to process next */
    bool has_prev;                          /* sorted: prev_ts holds the last item's time */
    int64_t prev_ts;
    bool fell_back;    /* the sorted answer was not sorted: full scan instead */
    bool kafka_failed; /* a delivery failed: stop, kq_flush says why */
    int odd_logged;
    struct counts n;
};

/* ---- options -------------------------------------------------------------------------- */

/* Check and convert the parsed flags. */
static int
cfg_check(struct cfg *c, const char *ps, const char *par, const char *tries, const char *overlap,
          const char *timeout, const char *rate, const char *flush, const char *skew, struct err *e)
{
    char *end;
    size_t ulen = strlen(c->api_url);

    if (crawl_int_arg("--page-size", ps, 1, 100, &c->page_size, e) < 0 ||
        crawl_int_arg("--parallel", par, 1, 64, &c->parallel, e) < 0 ||
        crawl_int_arg("--max-tries", tries, 1, 100, &c->max_tries, e) < 0 ||
        crawl_duration_arg("--overlap", overlap, false, &c->overlap_s, e) < 0 ||
        crawl_duration_arg("--timeout", timeout, true, &c->timeout_s, e) < 0 ||
        crawl_duration_arg("--flush-timeout", flush, true, &c->flush_s, e) < 0 ||
        crawl_duration_arg("--max-clock-skew", skew, false, &c->skew_s, e) < 0)
        return -1;
    c->rate = strtod(rate, &end);
    if (*rate == '\0' || *end != '\0' || !isfinite(c->rate) || c->rate < 0)
        return err_set(e, ERR_USAGE, "--rate: '%s' is not a number of requests per second", rate);
    if (strcmp(c->format, "page") != 0 && strcmp(c->format, "record") != 0)
        return err_set(e, ERR_USAGE, "--format: '%s' is neither page nor record", c->format);
    c->record_format = strcmp(c->format, "record") == 0;
    if (c->sorting[0] != '\0' && strcasecmp(c->sorting, SORT_DESC) != 0)
        return err_set(e, ERR_USAGE, "--sorting: '%s' is neither '' nor '" SORT_DESC "'",
                       c->sorting);
    c->sorted = c->sorting[0] != '\0';
    if (c->topic[0] == '\0' || c->job[0] == '\0' || strlen(c->job) > 250)
        return err_set(e, ERR_USAGE, "--topic and --job-name (at most 250 bytes) must be set");
    while (ulen > 0 && c->api_url[ulen - 1] == '/')
        ulen--;
    if (ulen == 0)
        return err_set(e, ERR_USAGE, "--api-url is empty");
    if (asprintf(&c->url, "%.*s%s", (int)ulen, c->api_url, API_PATH) < 0)
        return err_set(e, ERR_FAIL, "out of memory");
    return 0;
}

/* Parse argv into c. 0, TASK_HELP or -1. */
static int
cfg_parse(int argc, char **argv, void *arg, struct err *e)
{
    struct cfg *c = arg;
    const char *ps, *par, *tries, *overlap, *timeout, *rate, *flush, *skew, *conn_id = NULL;
    struct task_opt opts[] = {
        {"--api-url", "DVC_API_URL", "https://dichvucong.dav.gov.vn", "the portal", &c->api_url,
         false, NULL},
        {"--topic", "DVC_TOPIC", "all_data", "Kafka topic", &c->topic, false, NULL},
        {"--job-name", "DVC_JOB_NAME", "dvc_flow", "crawl_state.job_name", &c->job, false, NULL},
        {"--overlap", "DVC_OVERLAP", "1d", "re-send this much before the watermark", &overlap,
         false, NULL},
        {"--page-size", "DVC_PAGE_SIZE", "100", "items per page (maxResultCount, 1-100)", &ps,
         false, NULL},
        {"--parallel", "DVC_PARALLEL", "4", "requests at once", &par, false, NULL},
        {"--rate", "DVC_RATE", "5", "request starts per second at most (0: no limit)", &rate, false,
         NULL},
        CRAWL_OPT_TIMEOUT("DVC_TIMEOUT", &timeout),
        {"--max-tries", "DVC_MAX_TRIES", "5", "tries per page, the first included", &tries, false,
         NULL},
        {"--sorting", "DVC_SORTING", "", "'' or '" SORT_DESC "'", &c->sorting, false, NULL},
        {"--format", "DVC_FORMAT", "page", "page (a JSON array per page) or record", &c->format,
         false, NULL},
        CRAWL_OPT_SKEW("DVC_MAX_CLOCK_SKEW", &skew),
        CRAWL_OPTS_END_DB("DVC_FLUSH_TIMEOUT", "120s", &flush, &c->db_url, &conn_id, &c->x),
    };
    int rc = crawl_parse(argc, argv, opts, USAGE, &c->x, &c->props, e);

    if (rc == 0 && pgconn_target(&c->db_url, conn_id, e) < 0)
        return -1;

    return rc != 0 ? rc : cfg_check(c, ps, par, tries, overlap, timeout, rate, flush, skew, e);
}

/* ---- sending -------------------------------------------------------------------------- */

/* Produce one message of value (a record or an array of records). */
static int
send_json(struct crawl *c, const char *key, const json_t *value, long long records, struct err *e)
{
    char *text = dvc_record_dump(value);
    int rc;

    if (text == NULL)
        return err_set(e, ERR_FAIL, "out of memory serialising a message");
    rc = kq_produce(c->kp, c->cfg->topic, key, key ? strlen(key) : 0, text, strlen(text), e);
    free(text);
    if (rc < 0)
        return -1;
    c->n.messages++;
    c->n.sent += records;
    return 0;
}

/* Log and count an item that cannot be sent. */
static void
odd_item(struct crawl *c, const json_t *item, long long skip, const struct err *why)
{
    char id[64];

    c->n.skipped++;
    if (c->odd_logged++ < MAX_ODD_LOGS)
        task_log("odd item id=%s skipCount=%lld: %s (skipped)", dvc_item_id(item, id, sizeof(id)),
                 skip, why->msg);
    else if (c->odd_logged == MAX_ODD_LOGS + 1)
        task_log("more odd items: counted, no longer logged");
}

/* Send the items of one page that are newer than the threshold. A page message is keyed by
 * its first soDangKy: a keyless producer sticks to one partition for a while, and a partition
 * of librdkafka's mock cluster (or a small retention) holds only a few MiB. */
static int
send_page(struct crawl *c, long long skip, json_t *items, struct err *e)
{
    json_t *batch = c->cfg->record_format ? NULL : json_array(), *item;
    const char *first_key = NULL;
    size_t i;
    int rc = -1;

    if (!c->cfg->record_format && batch == NULL)
        return err_set(e, ERR_FAIL, "out of memory");
    json_array_foreach(items, i, item)
    {
        const char *sdk;
        int64_t ts;
        int ts_ok;
        struct err why = {0};

        c->n.items++;
        if (dvc_item_check(item, &sdk, &ts, &ts_ok, &why) < 0) {
            if (ts_ok) {
                char id[64];
                crawl_newest_note(&c->newest, ts, dvc_item_id(item, id, sizeof(id)));
            }
            odd_item(c, item, skip, &why);
            continue;
        }
        crawl_newest_note(&c->newest, ts, sdk); /* a future item is still sent */
        if (c->has_threshold && ts <= c->threshold)
            continue;
        json_t *rec = dvc_record_flatten(item);
        if (rec == NULL) {
            err_set(e, ERR_FAIL, "out of memory");
            goto out;
        }
        if (batch != NULL) {
            first_key = first_key ? first_key : sdk;
            json_array_append_new(batch, rec);
            continue;
        }
        rc = send_json(c, sdk, rec, 1, e);
        json_decref(rec);
        if (rc < 0)
            goto out;
    }
    rc = 0;
    if (batch != NULL && json_array_size(batch) > 0)
        rc = send_json(c, first_key, batch, (long long)json_array_size(batch), e);
out:
    json_decref(batch);
    return rc < 0 ? err_prefix(e, "skipCount=%lld", skip) : 0;
}

/* ---- paging --------------------------------------------------------------------------- */

enum { FALL_BACK = 1 }; /* sorted_page: the answer was not sorted */

static int
window(const struct crawl *c)
{
    int w = c->sorted ? c->cfg->parallel : 2 * c->cfg->parallel;
    return w < MAX_WINDOW ? w : MAX_WINDOW;
}

/* Whether another page should be asked for: only page 0 until its totalCount is known, then
 * up to the largest totalCount seen, never past the first short page. */
static bool
can_submit(const struct crawl *c)
{
    long long bound = c->end < c->stop_at ? c->end : c->stop_at;

    if (c->finished)
        return false;
    if (!c->end_known)
        return c->next_skip == 0;
    return c->next_skip < bound;
}

static int
submit_due(struct crawl *c, struct err *e)
{
    int ps = c->cfg->page_size;

    while (can_submit(c) && c->pending < window(c)) {
        char body[256], label[48];
        snprintf(body, sizeof(body),
                 "{\"SoDangKyThuoc\": {}, \"KichHoat\": true, \"skipCount\": %lld, "
                 "\"maxResultCount\": %d, \"sorting\": %s}",
                 c->next_skip, ps, c->sorted ? "\"" SORT_DESC "\"" : "null");
        snprintf(label, sizeof(label), "skipCount=%lld", c->next_skip);
        struct http_request rq = {.method = HTTP_POST,
                                  .url = c->cfg->url,
                                  .json = body,
                                  .label = label,
                                  .arg = (void *)(intptr_t)c->next_skip};
        if (http_submit(c->http, &rq, e) < 0)
            return err_prefix(e, "submit %s", label);
        c->pending++;
        c->next_skip += ps;
    }
    return 0;
}

static long long
skip_of(const struct http_response *r)
{
    return (long long)(intptr_t)r->arg;
}

/* (Re)start the scan from skipCount 0 with a fresh client: newest-first when sorted. */
static int
scan_start(struct crawl *c, bool sorted, struct err *e)
{
    const struct cfg *cfg = c->cfg;
    struct http_opts o = {
        .timeout_ms = (long)(cfg->timeout_s * 1000),
        .max_parallel = cfg->parallel,
        .min_interval_ms = cfg->rate > 0 ? (long)ceil(1000.0 / cfg->rate) : 0,
        .max_tries = cfg->max_tries,
        .parse = dvc_page_keep, /* checked and kept: each page is parsed once */
        .parsed_free = dvc_page_free,
    };

    for (int i = 0; i < MAX_WINDOW; i++) {
        http_response_free(c->held[i]);
        c->held[i] = NULL;
    }
    http_client_free(c->http);
    c->http = http_client_new(&o, e);
    if (c->http == NULL)
        return err_prefix(e, "http client");
    c->sorted = sorted;
    c->end_known = c->finished = c->has_prev = false;
    c->next_skip = c->next_in_order = c->end = 0;
    c->stop_at = LLONG_MAX;
    c->pending = 0;
    return 0;
}

/* Bookkeeping of the bounds from one page: totalCount (the largest seen; changes are logged)
 * and the first short page. A short page before its own totalCount means the server returned
 * fewer items than asked for in the middle of the registry: paging on would skip items. */
static int
page_bounds(struct crawl *c, long long skip, long long n, long long total, struct err *e)
{
    if (!c->end_known) {
        c->end_known = true;
        c->end = total;
        task_log("totalCount=%lld: %lld page(s) of %d", total,
                 (total + c->cfg->page_size - 1) / c->cfg->page_size, c->cfg->page_size);
    } else if (total > c->end) {
        task_log("totalCount grew from %lld to %lld during the crawl (skipCount=%lld)", c->end,
                 total, skip);
        c->end = total;
    }
    if (n < c->cfg->page_size) {
        if (skip + n < total)
            return err_set(e, ERR_FAIL,
                           "skipCount=%lld: %lld item(s) for maxResultCount=%d with totalCount=%lld"
                           " (does the server cap pages below --page-size?)",
                           skip, n, c->cfg->page_size, total);
        if (skip + n < c->stop_at)
            c->stop_at = skip + n;
    }
    return 0;
}

/* The page of a finished request: its items (borrowed from *root, which the caller frees).
 * A request that failed after its tries fails the crawl, temporary (exit 111). */
static int
page_open(struct crawl *c, const struct http_response *r, json_t **root, json_t **items,
          struct err *e)
{
    long long total, skip = skip_of(r);

    if (r->err.code != ERR_OK)
        return crawl_request_failed(r, e, "page failed");
    /* the HTTP client parsed and checked the page (dvc_page_keep); the root is shared */
    *root = r->parsed != NULL ? json_incref(r->parsed) : NULL;
    if (*root == NULL || dvc_page_items(*root, items, &total, e) < 0) {
        json_decref(*root);
        err_set(e, ERR_PARSE, "the HTTP client handed over no usable page");
        e->temporary = true; /* cannot happen, but never success */
        return err_prefix(e, "skipCount=%lld", skip);
    }
    c->n.pages++;
    if (page_bounds(c, skip, (long long)json_array_size(*items), total, e) < 0) {
        json_decref(*root);
        return -1;
    }
    return 0;
}

/* Full scan: process a page whatever order it finished in. Takes r. */
static int
full_page(struct crawl *c, struct http_response *r, struct err *e)
{
    json_t *root = NULL, *items = NULL;
    int rc = -1;

    c->pending--;
    if (page_open(c, r, &root, &items, e) == 0) {
        rc = send_page(c, skip_of(r), items, e);
        json_decref(root);
    }
    http_response_free(r);
    if (rc == 0 && c->n.pages % 50 == 0)
        task_log("progress: %lld page(s), %lld item(s), %lld record(s) sent, %lld skipped",
                 c->n.pages, c->n.items, c->n.sent, c->n.skipped);
    return rc;
}

/* Sorted scan: are the page's times non-increasing, continuing the previous page? *older is
 * set when every dated item is at or before the threshold. Items without a usable time are
 * left to send_page (counted as odd there). */
static bool
sorted_check(struct crawl *c, json_t *items, long long skip, bool *older)
{
    bool has = c->has_prev, any = false, all_old = true;
    int64_t prev = c->prev_ts, ts;
    json_t *item;
    size_t i;

    json_array_foreach(items, i, item)
    {
        const char *lm = json_string_value(json_object_get(item, "lastModificationTime"));
        char id[64];

        if (lm == NULL || dvc_time_parse(lm, &ts, NULL) < 0)
            continue;
        if (has && ts > prev) {
            task_log("sorted: skipCount=%lld item %zu (id=%s, %s) is newer than the item before "
                     "it: the server did not sort; falling back to a full scan",
                     skip, i, dvc_item_id(item, id, sizeof(id)), lm);
            return false;
        }
        has = any = true;
        prev = ts;
        if (!c->has_threshold || ts > c->threshold)
            all_old = false;
    }
    c->has_prev = has;
    c->prev_ts = prev;
    *older = any && all_old;
    return true;
}

/* Sorted scan: process the page at next_in_order. Takes r. 0, FALL_BACK or -1. */
static int
sorted_page(struct crawl *c, struct http_response *r, struct err *e)
{
    json_t *root = NULL, *items = NULL;
    long long skip = skip_of(r), bound;
    bool older = false;
    int rc = -1;

    c->pending--;
    if (page_open(c, r, &root, &items, e) < 0)
        goto out;
    if (!sorted_check(c, items, skip, &older)) {
        rc = FALL_BACK;
        goto out;
    }
    if (send_page(c, skip, items, e) < 0)
        goto out;
    rc = 0;
    bound = c->end < c->stop_at ? c->end : c->stop_at;
    c->finished = older || skip + c->cfg->page_size >= bound;
    if (older)
        task_log("sorted: skipCount=%lld is wholly older than the threshold: stopping after "
                 "%lld page(s)",
                 skip, c->n.pages);
out:
    json_decref(root);
    http_response_free(r);
    return rc;
}

/* Sorted scan: keep r until its turn, then process every page whose turn has come. */
static int
sorted_take(struct crawl *c, struct http_response *r, struct err *e)
{
    int ps = c->cfg->page_size;

    c->held[(skip_of(r) / ps) % MAX_WINDOW] = r;
    while (!c->finished) {
        int slot = (int)((c->next_in_order / ps) % MAX_WINDOW);
        if ((r = c->held[slot]) == NULL || skip_of(r) != c->next_in_order)
            return 0;
        c->held[slot] = NULL;
        int rc = sorted_page(c, r, e);
        if (rc < 0)
            return -1;
        if (rc == FALL_BACK) {
            c->fell_back = true;
            return scan_start(c, false, e);
        }
        c->next_in_order += ps;
    }
    return 0;
}

/* Fetch and send until every page is done (or a sorted scan reached old pages). */
static int
crawl_run(struct crawl *c, struct err *e)
{
    struct http_response *r;

    for (;;) {
        if (task_stopping())
            return err_set(e, ERR_FAIL, "stopped by signal %d after %lld page(s)",
                           task_stop_signal(), c->n.pages);
        if (crawl_delivery_check(c->kp, &c->kafka_failed, e) < 0 || submit_due(c, e) < 0)
            return -1;
        if (c->finished || c->pending == 0)
            return 0;
        if (http_client_run(c->http, RUN_SLICE_MS, e) < 0)
            return err_prefix(e, "fetch");
        while (!c->finished && (r = http_next_done(c->http)) != NULL) {
            if ((c->sorted ? sorted_take(c, r, e) : full_page(c, r, e)) < 0)
                return -1;
        }
    }
}

static void
crawl_free(struct crawl *c)
{
    for (int i = 0; i < MAX_WINDOW; i++)
        http_response_free(c->held[i]);
    http_client_free(c->http);
    kq_producer_free(c->kp);
}

/* ---- the run -------------------------------------------------------------------------- */

/* Everything was fetched and acknowledged: advance the watermark, write the XCom result. */
static int
crawl_finish(struct crawl *c, const char *before, const char *mode, double started, struct err *e)
{
    char newest[DVC_TIME_MAX], after[DVC_TIME_MAX] = "";
    const struct counts *n = &c->n;
    struct crawl_state st;
    char *details;
    json_t *xcom;
    int rc;

    if (c->newest.has)
        dvc_time_format(c->newest.ticks, 6, newest, sizeof(newest)); /* timestamptz keeps µs */
    details = crawl_dump(json_pack("{s:I, s:I, s:I, s:I, s:I, s:s, s:b, s:s, s:f}", "pages",
                                   n->pages, "items", n->items, "sent", n->sent, "messages",
                                   n->messages, "skipped", n->skipped, "mode", mode,
                                   "sorted_fallback", c->fell_back, "format", c->cfg->format,
                                   "run_seconds", round((clock_mono() - started) * 1000) / 1000),
                         false);
    if (details == NULL)
        return err_set(e, ERR_FAIL, "out of memory");
    rc = crawl_state_write(c->cfg->db_url, c->cfg->job, c->newest.has ? newest : NULL, details,
                           CRAWL_DETAILS_ALWAYS, &st, e);
    free(details);
    if (rc < 0)
        return -1;
    if (st.has)
        dvc_time_format(st.ticks, 6, after, sizeof(after));
    xcom = crawl_newest_report(
        &c->newest,
        json_pack("{s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:s, s:b}", "pages", n->pages, "items_seen",
                  n->items, "records_sent", n->sent, "messages_sent", n->messages, "skipped",
                  n->skipped, "watermark_before", crawl_text_or_null(before), "watermark_after",
                  crawl_text_or_null(after), "mode", mode, "sorted_fallback", c->fell_back));
    if (crawl_xcom_write(xcom, false, e) < 0)
        return -1;
    task_log("done: mode=%s pages=%lld items=%lld sent=%lld messages=%lld skipped=%lld "
             "watermark %s -> %s in %.1f s",
             mode, n->pages, n->items, n->sent, n->messages, n->skipped,
             before[0] ? before : "(none)", after[0] ? after : "(none)", clock_mono() - started);
    return 0;
}

/* Read the watermark and set the threshold; before gets the watermark as text ("" if none). */
static int
crawl_prepare(struct crawl *c, char *before, size_t size, struct err *e)
{
    struct crawl_state st;
    char thr[DVC_TIME_MAX] = "(none)";

    crawl_newest_init(&c->newest, c->cfg->skew_s);
    if (crawl_state_read(c->cfg->db_url, c->cfg->job, &st, e) < 0)
        return -1;
    before[0] = '\0';
    if (st.has) {
        dvc_time_format(st.ticks, 6, before, size);
        c->has_threshold = true;
        c->threshold = st.ticks - (int64_t)llround(c->cfg->overlap_s * DVC_TICKS_PER_SEC);
        dvc_time_format(c->threshold, 6, thr, sizeof(thr));
    }
    task_log("crawl %s job=%s watermark=%s threshold=%s sorting=%s format=%s parallel=%d rate=%g/s",
             c->cfg->url, c->cfg->job, st.has ? before : "(none)", thr,
             c->cfg->sorted ? "'" SORT_DESC "'" : "default", c->cfg->format, c->cfg->parallel,
             c->cfg->rate);
    crawl_state_clear(&st);
    return 0;
}

/* The whole run after the flags: read the watermark, crawl, flush, advance it. */
static int
crawl_all(void *arg, struct err *e)
{
    const struct cfg *cfg = arg;
    struct crawl c = {.cfg = cfg};
    char before[DVC_TIME_MAX] = "";
    double started = clock_mono();
    struct err pe = {0};
    int rc = -1;

    if (crawl_prepare(&c, before, sizeof(before), e) < 0 ||
        (c.kp = kq_producer_new((const char *const *)cfg->props.v, e)) == NULL)
        goto out;
    if (kq_producer_prepare(c.kp, cfg->topic, PREPARE_MS, &pe) < 0)
        task_log("warning: %s (going on: the producer retries)", pe.msg);
    if (scan_start(&c, cfg->sorted, e) < 0)
        goto out;
    rc = crawl_run(&c, e); /* then flush: its error first, unless the flush explains it */
    if ((rc = crawl_flush(c.kp, rc, cfg->flush_s, c.kafka_failed, e)) < 0)
        goto out;
    rc = crawl_finish(&c, before,
                      cfg->sorted && !c.fell_back ? "sorted"
                      : before[0]                 ? "incremental"
                                                  : "full",
                      started, e);
out:
    crawl_free(&c);
    return rc;
}

int
main(int argc, char **argv)
{
    static struct cfg cfg;
    static const struct crawl_prog prog = {"dvc_crawl", cfg_parse, crawl_all, cfg_free,
                                           " (watermark unchanged)"};
    return crawl_main(argc, argv, &prog, &cfg);
}
