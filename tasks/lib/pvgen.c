/* pvgen: the product_view events and the run's messages (pvgen.h); the pools are drawn by
 * pvgen_pool.c.
 *
 * Event i is built from its own random stream (seed, i): a device (its user agent, address,
 * screen and usual shop), a product by popularity, the product's page on the shop, where the
 * shopper came from, what was clicked. Which events are broken and where duplicates go is
 * arithmetic on the indices (spread evenly), so message m never depends on the messages
 * before it. Fields are written in the tracker's order; JSON is compact, UTF-8, one line. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "pvgen_int.h"

struct pvgen {
    struct pvgen_opts o;
    struct pv_pools p;
    char *text; /* the last message */
};

static const char *const ALLOYS[] = {"white-585",  "yellow-585", "red-585",    "white-375",
                                     "yellow-750", "white-750",  "platin-950", "silber-925"};
static const char *const STONES[] = {"diamond-Brillant", "sapphire", "ruby",      "emerald",
                                     "amethyst",         "topaz",    "swarovsky", "zirconia"};
static const char *const BAD_TIMES[] = {"yesterday", "today", "last week", "1 hour ago", "now"};

/* ---- the run's arithmetic ------------------------------------------------------------- */

/* floor(a * b / c) without overflow */
static long long
muldiv(long long a, long long b, long long c)
{
    return (long long)((unsigned __int128)a * (unsigned __int128)b / (unsigned __int128)c);
}

/* The kind of event i: broken events spread evenly over the run, the four kinds in turn. */
static enum pvgen_kind
event_kind(const struct pvgen *g, long long i)
{
    long long n = g->o.count, b = g->o.broken, b0, b1;

    if (b <= 0 || n <= 0)
        return PVGEN_EVENT;
    b0 = muldiv(i, b, n);
    b1 = muldiv(i + 1, b, n);
    return b1 > b0 ? (enum pvgen_kind)(PVGEN_NOT_JSON + b0 % 4) : PVGEN_EVENT;
}

/* ---- fields --------------------------------------------------------------------------- */

/* Set key to v (stolen), except now and then: missing (v dropped) or null. */
static void
put(json_t *o, const char *key, json_t *v, struct rng *r)
{
    uint64_t x = rng_below(r, 1000);

    if (x < 6)
        json_decref(v);
    if (x >= 3)
        json_object_set_new(o, key, x < 6 ? json_null() : v);
}

/* A pool index from a device: >= 0 the entry, -1 null, -2 missing. */
static void
put_pooled(json_t *o, const char *key, int idx, const char *text)
{
    if (idx != -2)
        json_object_set_new(o, key, idx >= 0 ? json_string(text) : json_null());
}

static void
put_device(json_t *o, const struct pvgen *g, const struct pv_device *d, int64_t ts, struct rng *r)
{
    const struct pv_pools *p = &g->p;
    char oid[25];

    snprintf(oid, sizeof(oid), "%08x%010llx%06x", (unsigned)ts,
             (unsigned long long)(rng_next(r) & 0xFFFFFFFFFFULL), (unsigned)rng_below(r, 1 << 24));
    put(o, "_id", json_string(oid), r);
    json_object_set_new(o, "time_stamp", json_integer(ts));
    put_pooled(o, "ip", d->ip, d->ip >= 0 ? p->ip[d->ip] : NULL);
    put_pooled(o, "user_agent", d->ua, d->ua >= 0 ? p->ua[d->ua] : NULL);
    put(o, "resolution", json_string(pv_resolutions[d->res]), r);
    put(o, "user_id_db", json_string(d->user_id), r);
    put(o, "device_id", json_string(d->uuid), r);
    put(o, "api_version", json_string("1.0"), r);
}

/* store_id, local_time (the shop's clock) and show_recommendation. */
static void
put_shop(json_t *o, int shop, int64_t ts, struct rng *r)
{
    time_t local = (time_t)(ts + pv_shops[shop].utc_offset_min * 60);
    struct tm tm;
    char text[32];

    gmtime_r(&local, &tm);
    strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S", &tm);
    put(o, "store_id", json_string(pv_shops[shop].store_id), r);
    put(o, "local_time", json_string(text), r);
    put(o, "show_recommendation", json_string(rng_chance(r, 400) ? "true" : "false"), r);
}

/* The page: the product's URL on the shop, with the options chosen in its query sometimes. */
static void
put_url(json_t *o, const struct pv_product *pr, int shop, struct rng *r)
{
    char url[512];
    size_t n;

    pv_product_url(pr, shop, url, sizeof(url));
    n = strlen(url);
    if (rng_chance(r, 500))
        n += (size_t)snprintf(url + n, sizeof(url) - n, "?alloy=%s", ALLOYS[rng_below(r, 8)]);
    if (n < sizeof(url) && rng_chance(r, 150))
        snprintf(url + n, sizeof(url) - n, "%cstone1=%s", strchr(url, '?') ? '&' : '?',
                 STONES[rng_below(r, 8)]);
    put(o, "current_url", json_string(url), r);
}

/* Where the shopper came from: a search engine, social media, the shop itself, an app, a
 * bare host without a scheme, nothing ("") or no field at all. */
static void
put_referrer(json_t *o, const struct pvgen *g, int shop, struct rng *r)
{
    const char *base = pv_shops[shop].base, *tld = strstr(base, "glamira") + 7;
    char ref[512];
    uint64_t x = rng_below(r, 100);

    if (x < 30)
        snprintf(ref, sizeof(ref), "https://www.google%.*s/", (int)strcspn(tld, "/"), tld);
    else if (x < 34)
        snprintf(ref, sizeof(ref), "https://www.bing.com/");
    else if (x < 40)
        snprintf(ref, sizeof(ref), "%s",
                 x < 37 ? "https://m.facebook.com/" : "https://l.instagram.com/");
    else if (x < 65)
        pv_product_url(&g->p.prod[rng_pick(r, g->p.prod_cum, g->p.nprod)], shop, ref, sizeof(ref));
    else if (x < 72)
        snprintf(ref, sizeof(ref), "%scheckout/cart/", base);
    else if (x < 75)
        snprintf(ref, sizeof(ref), "android-app://com.google.android.gm/");
    else if (x < 80)
        snprintf(ref, sizeof(ref), "%.*s", (int)strcspn(base + 8, "/"), base + 8); /* no "//" */
    else if (x < 92)
        ref[0] = '\0';
    else
        return; /* no referrer_url at all */
    json_object_set_new(o, "referrer_url", json_string(ref));
}

/* email_address (some), recommendation (false, sometimes a string), utm_source/utm_medium
 * (false, or a campaign's pair). */
static void
put_marketing(json_t *o, const struct pv_device *d, struct rng *r)
{
    static const char *const utm[][2] = {
        {"google", "cpc"}, {"facebook", "social"}, {"newsletter", "email"}, {"criteo", "display"}};
    uint64_t x = rng_below(r, 100);

    if (strcmp(d->email, "-") != 0)
        json_object_set_new(o, "email_address", json_string(d->email));
    put(o, "recommendation",
        x < 85 ? json_false() : json_string(x < 95 ? "true" : "similar_products"), r);
    x = rng_below(r, 100);
    put(o, "utm_source", x < 80 ? json_false() : json_string(utm[x % 4][0]), r);
    put(o, "utm_medium", x < 80 ? json_false() : json_string(utm[x % 4][1]), r);
}

/* One option object: label's id fixed per product, value's id per value. */
static json_t *
option_new(const struct pv_product *pr, int label, struct rng *r)
{
    static const char *const labels[] = {"alloy", "diamond", "stone1"};
    uint64_t v = rng_below(r, 8);
    char oid[24], vid[24];

    snprintf(oid, sizeof(oid), "%ld", atol(pr->id) % 90000 * 3 + label + 10000);
    snprintf(vid, sizeof(vid), "%llu", (unsigned long long)(label * 100 + 60000 + v));
    return json_pack("{s:s, s:s, s:s, s:s}", "option_label", labels[label], "option_id", oid,
                     "value_label", label == 0 ? ALLOYS[v] : STONES[v], "value_id", vid);
}

/* collection, product_id and option: what happened on the page. */
static void
put_product(json_t *o, const struct pv_product *pr, struct rng *r)
{
    static const char *const what[] = {"view_product_detail",
                                       "select_product_option",
                                       "select_product_option_quality",
                                       "product_detail_recommendation_visible",
                                       "product_detail_recommendation_noticed",
                                       "product_detail_recommendation_clicked"};
    static const uint32_t cum[] = {70, 84, 90, 95, 98, 100};
    size_t c = rng_pick(r, cum, 6);
    uint64_t x = rng_below(r, 1000);
    json_t *opt = json_array();

    put(o, "collection", json_string(what[c]), r);
    if (x >= 15)
        json_object_set_new(o, "product_id", x < 25 ? json_null() : json_string(pr->id));
    x = rng_below(r, 100);
    if (c == 1 || c == 2 || x < 20) {
        json_array_append_new(opt, option_new(pr, 0, r));
        if (c != 0 && rng_chance(r, 400))
            json_array_append_new(opt, option_new(pr, 1 + (int)rng_below(r, 2), r));
    }
    if (c != 0 || x < 90)
        json_object_set_new(o, "option", opt);
    else
        json_decref(opt); /* no option field at all */
}

/* Event i as a JSON object (new) and its id. */
static json_t *
event_new(const struct pvgen *g, long long i, char id[37])
{
    const struct pv_pools *p = &g->p;
    struct rng r = rng_for(g->o.seed, 10, (uint64_t)i);
    long long span = (long long)g->o.days * 86400, n = g->o.count > 0 ? g->o.count : 1;
    long long lo = muldiv(i, span, n), hi = muldiv(i + 1, span, n);
    int64_t ts = g->o.start + lo + (hi > lo ? (int64_t)rng_below(&r, (uint64_t)(hi - lo)) : 0);
    const struct pv_device *d = &p->dev[rng_below(&r, p->ndev)];
    const struct pv_product *pr = &p->prod[rng_pick(&r, p->prod_cum, p->nprod)];
    int shop = rng_chance(&r, 900) ? d->shop : (int)rng_below(&r, pv_nshops);
    json_t *o = json_object();

    rng_uuid(&r, id);
    put_device(o, g, d, ts, &r);
    put_shop(o, shop, ts, &r);
    put_url(o, pr, shop, &r);
    put_referrer(o, g, shop, &r);
    put_marketing(o, d, &r);
    put_product(o, pr, &r);
    json_object_set_new(o, "id", json_string(id));
    return o;
}

/* ---- messages ------------------------------------------------------------------------- */

/* The text of event i as sent (broken as its kind says) into g->text; its id into key. */
static int
event_text(struct pvgen *g, long long i, char key[37], struct err *e)
{
    enum pvgen_kind k = event_kind(g, i);
    json_t *o = event_new(g, i, key);
    struct rng r = rng_for(g->o.seed, 11, (uint64_t)i);

    if (k == PVGEN_NO_ID)
        json_object_del(o, "id");
    else if (k == PVGEN_BAD_TIME)
        json_object_set_new(o, "time_stamp", json_string(BAD_TIMES[rng_below(&r, 5)]));
    else if (k == PVGEN_BAD_OPTION)
        json_object_set_new(o, "option", option_new(&g->p.prod[0], 0, &r));
    free(g->text);
    g->text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (g->text == NULL)
        return err_set(e, ERR_FAIL, "out of memory serialising event %lld", i);
    if (k == PVGEN_NOT_JSON && rng_chance(&r, 700))
        g->text[strlen(g->text) / 2] = '\0'; /* cut off in the middle */
    else if (k == PVGEN_NOT_JSON)            /* what a proxy answers instead of the tracker */
        snprintf(g->text, strlen(g->text) + 1,
                 "<html><head><title>502 Bad Gateway</title></head><body>request %s</body>"
                 "</html>",
                 key); /* the event's text is longer: it holds the key and more */
    return 0;
}

/* The earlier valid event a duplicate at message m re-sends (sent: events before m). */
static long long
duplicate_of(const struct pvgen *g, long long m, long long sent)
{
    struct rng r = rng_for(g->o.seed, 12, (uint64_t)m);
    long long j = (long long)rng_below(&r, (uint64_t)sent);

    for (long long k = 0; k < sent; k++) {
        long long c = (j - k + sent) % sent;
        if (event_kind(g, c) == PVGEN_EVENT)
            return c;
    }
    return j; /* every event before was broken: one of them again */
}

int
pvgen_message(struct pvgen *g, long long m, struct pvgen_msg *out, struct err *e)
{
    long long t = pvgen_total(g), d = g->o.duplicates, before, i;
    bool dup;

    if (m < 0 || m >= t)
        return err_set(e, ERR_FAIL, "message %lld of %lld", m, t);
    before = d > 0 ? muldiv(m, d, t) : 0; /* duplicates before m */
    dup = d > 0 && muldiv(m + 1, d, t) > before;
    i = dup ? duplicate_of(g, m, m - before) : m - before;
    if (event_text(g, i, out->key, e) < 0)
        return -1;
    out->text = g->text;
    out->len = strlen(g->text);
    out->kind = dup ? PVGEN_DUPLICATE : event_kind(g, i);
    out->event = i;
    return 0;
}

long long
pvgen_total(const struct pvgen *g)
{
    return g->o.count + g->o.duplicates;
}

struct pvgen *
pvgen_new(const struct pvgen_opts *o, struct err *e)
{
    struct pvgen *g;

    if (o->count < 0 || o->broken < 0 || o->broken > o->count || o->duplicates < 0 ||
        o->duplicates > o->count || o->days < 1 || o->geo == NULL) {
        err_set(e, ERR_USAGE,
                "pvgen: count %lld, broken %lld, duplicates %lld, days %d: broken and "
                "duplicates must be 0..count, days >= 1",
                o->count, o->broken, o->duplicates, o->days);
        return NULL;
    }
    if ((g = calloc(1, sizeof(*g))) == NULL) {
        err_set(e, ERR_FAIL, "out of memory");
        return NULL;
    }
    g->o = *o;
    if (pv_pools_new(&g->p, o, e) < 0) {
        free(g);
        return NULL;
    }
    return g;
}

void
pvgen_free(struct pvgen *g)
{
    if (g == NULL)
        return;
    pv_pools_clear(&g->p);
    free(g->text);
    free(g);
}

/* One CSV field, quoted when it holds a comma, a quote, a line break or edge spaces. */
static void
csv_field(FILE *out, const char *s, char end)
{
    size_t n = strlen(s);

    if (strpbrk(s, ",\"\r\n") == NULL && (n == 0 || (s[0] != ' ' && s[n - 1] != ' '))) {
        fprintf(out, "%s%c", s, end);
        return;
    }
    fputc('"', out);
    for (; *s != '\0'; s++)
        fputs(*s == '"' ? "\"\"" : (char[]){*s, '\0'}, out);
    fprintf(out, "\"%c", end);
}

int
pvgen_catalogue(const struct pvgen *g, FILE *out, struct err *e)
{
    char url[512];

    fputs("product_id,name,url,language_code\r\n", out);
    for (size_t k = 0; k < g->p.nprod; k++) {
        const struct pv_product *pr = &g->p.prod[k];
        if (!pr->in_catalogue)
            continue;
        pv_product_url(pr, pr->home_shop, url, sizeof(url));
        csv_field(out, pr->id, ',');
        csv_field(out, pr->name, ',');
        csv_field(out, url, ',');
        fprintf(out, "%s\r\n", pv_shops[pr->home_shop].lang);
    }
    if (fflush(out) != 0 || ferror(out))
        return err_set(e, ERR_IO, "catalogue: %s", strerror(errno));
    return 0;
}

const char *
pvgen_kind_name(enum pvgen_kind k)
{
    static const char *const names[] = {"event",          "not_json",   "no_id",
                                        "bad_time_stamp", "bad_option", "duplicate"};

    return k < PVGEN_KINDS ? names[k] : "?";
}
