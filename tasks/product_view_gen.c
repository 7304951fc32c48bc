/* product_view_gen: made-up behaviour events of a jewellery web shop into Kafka, the source of
 * the product_view pipeline when the real tracker's feed is not at hand (tests, demos, load).
 *
 * It produces --count events (tasks/lib/pvgen: realistic fields, --broken of them broken in
 * four ways) plus --duplicates earlier events re-sent byte for byte, one compact JSON object
 * per message keyed by the event's id, to --topic. The same flags and seed give the same
 * messages byte for byte (the GeoIP and uap-core files being the same). time_stamps start at
 * --start and spread over --days. --out gets every message sent, one a line, exactly the bytes
 * produced; --catalogue a product catalogue CSV for about half of the products.
 *
 * Every message must be acknowledged by the broker before the run succeeds. The last stdout
 * line and the XCom result are the summary (sent, broken, duplicates, ...). Exit 0 every
 * message acknowledged; 1 SIGTERM or a failure; 100 bad arguments or input files; 111 the
 * broker down. */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crawl.h"
#include "geo.h"
#include "kafka.h"
#include "pvgen.h"
#include "task.h"

#define USAGE                                                                                      \
    "product_view_gen [--count N] [--seed S] [--start EPOCH|DATE] [--days D] [--broken N]\n"       \
    "                 [--duplicates N] [--out FILE] [--catalogue FILE] [--topic T] [-X k=v]...\n"  \
    "Produce N made-up product_view events (JSON, keyed by id) to Kafka, deterministic for a\n"    \
    "seed: --broken of them broken (not JSON, no id, a word as time_stamp, option not an "         \
    "array),\n"                                                                                    \
    "plus --duplicates earlier events again. --out: every message sent, one a line. The last\n"    \
    "stdout line and the XCom: {sent, events, broken, duplicates, ...}. Exit 0 all "               \
    "acknowledged;\n"                                                                              \
    "1 failure or SIGTERM; 100 bad arguments; 111 the broker down."

/* 2026-06-01T00:00:00Z: a fixed default, so that runs without --start are reproducible */
#define DEFAULT_START "1780272000"

enum { CHECK_EVERY = 1000 }; /* messages between looks at delivery failures and signals */

struct cfg {
    const char *topic, *out_path, *cat_path, *ua_file, *geo_v4, *geo_v6;
    struct pvgen_opts g;
    double flush_s;
    struct task_list x, props;
};

struct run {
    const struct cfg *cfg;
    struct geo *geo;
    struct pvgen *gen;
    struct kq_producer *kp;
    FILE *out;
    long long kinds[PVGEN_KINDS];
    long long sent;
    bool kafka_failed;
};

/* ---- options -------------------------------------------------------------------------- */

static int
ll_arg(const char *flag, const char *s, long long lo, long long hi, long long *out, struct err *e)
{
    char *end;

    errno = 0;
    *out = strtoll(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno != 0 || *out < lo || *out > hi)
        return err_set(e, ERR_USAGE, "%s: '%s' is not an integer from %lld to %lld", flag, s, lo,
                       hi);
    return 0;
}

/* --start: epoch seconds, or a UTC date "2026-06-01" / "2026-06-01T00:00:00Z". */
static int
start_arg(const char *s, int64_t *out, struct err *e)
{
    struct tm tm = {0};
    char rest[8] = "";
    int n;
    long long v;

    if (s[0] >= '0' && s[0] <= '9' && strchr(s, '-') == NULL)
        return ll_arg("--start", s, 0, 253402300799LL, &v, e) < 0 ? -1 : (*out = v, 0);
    n = sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%7s", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, rest);
    if ((n != 3 && n != 7) || (n == 7 && strcmp(rest, "Z") != 0) || tm.tm_mon < 1 ||
        tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_year < 1970)
        return err_set(e, ERR_USAGE,
                       "--start: '%s' is neither epoch seconds nor a UTC date like "
                       "2026-06-01 or 2026-06-01T00:00:00Z",
                       s);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *out = (int64_t)timegm(&tm);
    return 0;
}

/* The flag values as text, checked by cfg_check. */
struct raw {
    const char *count, *seed, *start, *days, *broken, *dups, *flush;
};

static int
cfg_check(struct cfg *c, const struct raw *w, struct err *e)
{
    long long seed, days;

    if (ll_arg("--count", w->count, 0, 1000000000LL, &c->g.count, e) < 0 ||
        ll_arg("--seed", w->seed, 0, LLONG_MAX, &seed, e) < 0 ||
        start_arg(w->start, &c->g.start, e) < 0 ||
        ll_arg("--days", w->days, 1, 3660, &days, e) < 0 ||
        (w->broken != NULL && ll_arg("--broken", w->broken, 0, c->g.count, &c->g.broken, e) < 0) ||
        ll_arg("--duplicates", w->dups, 0, c->g.count, &c->g.duplicates, e) < 0 ||
        crawl_duration_arg("--flush-timeout", w->flush, true, &c->flush_s, e) < 0)
        return -1;
    if (w->broken == NULL)
        c->g.broken = c->g.count / 100; /* 1 % */
    if (c->topic[0] == '\0')
        return err_set(e, ERR_USAGE, "--topic is empty");
    c->g.seed = (uint64_t)seed;
    c->g.days = (int)days;
    c->g.ua_file = c->ua_file;
    return 0;
}

static int
cfg_parse(int argc, char **argv, void *arg, struct err *e)
{
    struct cfg *c = arg;
    struct raw w = {0};
    struct task_opt opts[] = {
        {"--count", "PV_GEN_COUNT", "1000", "events to produce (broken ones included)", &w.count,
         false, NULL},
        {"--seed", "PV_GEN_SEED", "1", "the same seed, the same messages", &w.seed, false, NULL},
        {"--start", "PV_GEN_START", DEFAULT_START, "time_stamp of the first event (epoch or date)",
         &w.start, false, NULL},
        {"--days", "PV_GEN_DAYS", "1", "UTC days the events spread over", &w.days, false, NULL},
        {"--broken", "PV_GEN_BROKEN", NULL, "broken events among --count (default: 1 %)", &w.broken,
         false, NULL},
        {"--duplicates", "PV_GEN_DUPLICATES", "0", "earlier events sent again (0..count)", &w.dups,
         false, NULL},
        {"--out", "PV_GEN_OUT", NULL, "also write every message sent here, one a line",
         &c->out_path, false, NULL},
        {"--catalogue", "PV_GEN_CATALOGUE", NULL, "write the product catalogue CSV here",
         &c->cat_path, false, NULL},
        {"--topic", "PV_GEN_TOPIC", "product_view", "Kafka topic", &c->topic, false, NULL},
        {"--ua-file", "PV_GEN_UA_FILE", PVGEN_UA_FILE, "uap-core's test_ua.yaml", &c->ua_file,
         false, NULL},
        {"--geoip", "PV_GEN_GEOIP", GEO_DEFAULT_V4, "GeoIP country file (IPv4)", &c->geo_v4, false,
         NULL},
        {"--geoip6", "PV_GEN_GEOIP6", GEO_DEFAULT_V6, "GeoIP country file (IPv6)", &c->geo_v6,
         false, NULL},
        CRAWL_OPTS_END("PV_GEN_FLUSH_TIMEOUT", "60s", &w.flush, &c->x),
    };
    int rc = crawl_parse(argc, argv, opts, USAGE, &c->x, &c->props, e);

    return rc != 0 ? rc : cfg_check(c, &w, e);
}

static void
cfg_free(void *arg)
{
    struct cfg *c = arg;

    crawl_lists_clear(&c->x, &c->props);
}

/* ---- the run -------------------------------------------------------------------------- */

static int
write_catalogue(const struct run *r, struct err *e)
{
    const char *path = r->cfg->cat_path;
    FILE *f = fopen(path, "we");
    int rc;

    if (f == NULL)
        return err_set(e, ERR_USAGE, "--catalogue %s: %s", path, strerror(errno));
    rc = pvgen_catalogue(r->gen, f, e);
    if (fclose(f) != 0 && rc == 0)
        rc = err_set(e, ERR_IO, "--catalogue %s: %s", path, strerror(errno));
    return rc < 0 ? err_prefix(e, "--catalogue %s", path) : 0;
}

/* Inputs and outputs: the GeoIP files, the generator's pools, the catalogue, --out. */
static int
run_open(struct run *r, struct err *e)
{
    const struct cfg *c = r->cfg;
    struct pvgen_opts o = c->g;

    if ((r->geo = geo_new(c->geo_v4, c->geo_v6, NULL, e)) == NULL) {
        e->code = ERR_USAGE; /* a missing or bad input file: retrying will not help */
        return -1;
    }
    o.geo = r->geo;
    if ((r->gen = pvgen_new(&o, e)) == NULL) {
        e->code = e->code == ERR_FAIL ? ERR_FAIL : ERR_USAGE;
        return -1;
    }
    if (c->cat_path != NULL && write_catalogue(r, e) < 0)
        return -1;
    if (c->out_path != NULL && (r->out = fopen(c->out_path, "we")) == NULL)
        return err_set(e, ERR_USAGE, "--out %s: %s", c->out_path, strerror(errno));
    return 0;
}

/* Produce message m, and copy it to --out. */
static int
send_one(struct run *r, long long m, struct err *e)
{
    struct pvgen_msg msg;

    if (pvgen_message(r->gen, m, &msg, e) < 0 ||
        kq_produce(r->kp, r->cfg->topic, msg.key, strlen(msg.key), msg.text, msg.len, e) < 0)
        return -1;
    r->kinds[msg.kind]++;
    r->sent++;
    if (r->out != NULL &&
        (fwrite(msg.text, 1, msg.len, r->out) != msg.len || putc('\n', r->out) == EOF))
        return err_set(e, ERR_IO, "--out %s: %s", r->cfg->out_path, strerror(errno));
    return 0;
}

static int
send_all(struct run *r, struct err *e)
{
    long long total = pvgen_total(r->gen);
    struct err why = {0};

    if (kq_producer_prepare(r->kp, r->cfg->topic, 5000, &why) < 0)
        task_log("topic %s: %s (producing anyway)", r->cfg->topic, why.msg);
    for (long long m = 0; m < total; m++) {
        if (m % CHECK_EVERY == 0) {
            if (task_stopping())
                return err_set(e, ERR_FAIL, "stopped by signal %d after %lld message(s)",
                               task_stop_signal(), m);
            if (crawl_delivery_check(r->kp, &r->kafka_failed, e) < 0)
                return -1;
        }
        if (send_one(r, m, e) < 0)
            return err_prefix(e, "message %lld", m);
    }
    if (r->out != NULL && (fflush(r->out) != 0 || ferror(r->out)))
        return err_set(e, ERR_IO, "--out %s: %s", r->cfg->out_path, strerror(errno));
    return 0;
}

/* The summary: the last stdout line and the XCom result. */
static int
run_finish(struct run *r, struct err *e)
{
    const struct cfg *c = r->cfg;
    uint64_t delivered = 0;
    json_t *kinds = json_object();
    char *line;

    kq_producer_stats(r->kp, NULL, &delivered, NULL);
    for (int k = 0; k < PVGEN_KINDS; k++)
        json_object_set_new(kinds, pvgen_kind_name((enum pvgen_kind)k), json_integer(r->kinds[k]));
    json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:o, s:s, s:I, s:I, s:i}", "sent", r->sent,
                          "delivered", (json_int_t)delivered, "events", c->g.count, "broken",
                          c->g.broken, "duplicates", r->kinds[PVGEN_DUPLICATE], "kinds", kinds,
                          "topic", c->topic, "seed", (json_int_t)c->g.seed, "start",
                          (json_int_t)c->g.start, "days", c->g.days);
    if ((line = crawl_dump(json_incref(o), true)) == NULL) {
        json_decref(o);
        return err_set(e, ERR_FAIL, "out of memory");
    }
    task_log("done: %lld message(s) to %s, %llu acknowledged: %lld broken, %lld duplicate(s)",
             r->sent, c->topic, (unsigned long long)delivered, c->g.broken,
             r->kinds[PVGEN_DUPLICATE]);
    printf("%s\n", line);
    fflush(stdout);
    free(line);
    return crawl_xcom_write(o, true, e);
}

static int
run_all(void *arg, struct err *e)
{
    const struct cfg *c = arg;
    struct run r = {.cfg = c};
    int rc = -1;

    task_log("%lld event(s) (%lld broken) and %lld duplicate(s), seed %llu, from %lld over %d "
             "day(s) -> %s",
             c->g.count, c->g.broken, c->g.duplicates, (unsigned long long)c->g.seed,
             (long long)c->g.start, c->g.days, c->topic);
    if (run_open(&r, e) == 0 &&
        (r.kp = kq_producer_new((const char *const *)c->props.v, e)) != NULL) {
        rc = send_all(&r, e);
        if ((rc = crawl_flush(r.kp, rc, c->flush_s, r.kafka_failed, e)) == 0)
            rc = run_finish(&r, e);
    }
    if (r.out != NULL && fclose(r.out) != 0 && rc == 0)
        rc = err_set(e, ERR_IO, "--out %s: %s", c->out_path, strerror(errno));
    kq_producer_free(r.kp);
    pvgen_free(r.gen);
    geo_free(r.geo);
    return rc;
}

int
main(int argc, char **argv)
{
    static struct cfg cfg;
    static const struct crawl_prog prog = {"product_view_gen", cfg_parse, run_all, cfg_free, ""};

    return crawl_main(argc, argv, &prog, &cfg);
}
