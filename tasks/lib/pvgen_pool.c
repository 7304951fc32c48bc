/* pvgen_pool: what the product_view generator draws once per seed (pvgen_int.h): the shops,
 * user agents sampled from uap-core's test file (read with libyaml), public IP addresses of
 * many countries, the products and their catalogue, the devices.
 *
 * Every pool is drawn from its own random stream of the seed, so it does not change when
 * another pool does. IP addresses are random public ones whose country the GeoIP data knows,
 * at most a few per country: the shop's visitors come from many countries (random addresses
 * alone would be mostly the United States and China). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "pvgen_int.h"
#include "uaparse.h"

enum {
    UA_SAMPLE = 200,     /* user agents used by a run */
    NPROD = 300,         /* products */
    IP4_MAX = 600,       /* IPv4 addresses */
    IP4_PER_COUNTRY = 6, /* at most, so that small countries get their share */
    IP4_TRIES = 400000,  /* random addresses looked at, at most */
    IP6_MAX = 16,        /* IPv6 addresses */
    DEV_MIN = 300,       /* devices: DEV_MIN + count / 3, at most DEV_MAX */
    DEV_MAX = 100000,
};

/* ---- random numbers ------------------------------------------------------------------- */

uint64_t
rng_next(struct rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ULL);

    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

struct rng
rng_for(uint64_t seed, uint64_t what, uint64_t i)
{
    struct rng r = {seed ^ 0x5851F42D4C957F2DULL};
    uint64_t a = rng_next(&r) ^ what;

    r.s = a;
    r.s = rng_next(&r) ^ i;
    rng_next(&r);
    return r;
}

uint64_t
rng_below(struct rng *r, uint64_t n)
{
    return rng_next(r) % n; /* the bias is below 2^-40 for the sizes used here */
}

bool
rng_chance(struct rng *r, unsigned per_mille)
{
    return rng_below(r, 1000) < per_mille;
}

size_t
rng_pick(struct rng *r, const uint32_t *cum, size_t n)
{
    uint64_t x = rng_below(r, cum[n - 1]);
    size_t lo = 0, hi = n - 1;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cum[mid] > x)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

void
rng_uuid(struct rng *r, char out[37])
{
    uint64_t a = rng_next(r), b = rng_next(r);

    a = (a & ~0xF000ULL) | 0x4000ULL;               /* version 4 */
    b = (b & 0x3FFFFFFFFFFFFFFFULL) | (1ULL << 63); /* variant 10 */
    snprintf(out, 37, "%08x-%04x-%04x-%04x-%012llx", (unsigned)(a >> 32),
             (unsigned)(a >> 16) & 0xFFFF, (unsigned)a & 0xFFFF, (unsigned)(b >> 48),
             (unsigned long long)(b & 0xFFFFFFFFFFFFULL));
}

/* Zipf-like cumulative weights for n items: item k weighs 1 / (k + 1)^s, scaled. */
static uint32_t *
zipf_cum(size_t n, double s)
{
    uint32_t *cum = malloc(n * sizeof(*cum));
    uint64_t total = 0;

    for (size_t k = 0; cum != NULL && k < n; k++) {
        total += (uint64_t)(1e6 / pow((double)(k + 1), s)) + 1;
        cum[k] = (uint32_t)total;
    }
    return cum;
}

/* ---- tables --------------------------------------------------------------------------- */

const struct pv_shop pv_shops[] = {
    {"6", "https://www.glamira.de/", "de", 120, 40},
    {"7", "https://www.glamira.fr/", "fr", 120, 18},
    {"8", "https://www.glamira.co.uk/", "en", 60, 22},
    {"9", "https://www.glamira.com/", "en", -240, 20},
    {"10", "https://www.glamira.com/fr/", "fr", -240, 3},
    {"11", "https://www.glamira.it/", "it", 120, 12},
    {"12", "https://www.glamira.es/", "es", 120, 10},
    {"13", "https://www.glamira.nl/", "nl", 120, 8},
    {"14", "https://www.glamira.pl/", "pl", 120, 6},
    {"15", "https://www.glamira.se/", "sv", 120, 5},
    {"16", "https://www.glamira.dk/", "da", 120, 4},
    {"17", "https://www.glamira.at/", "de", 120, 6},
    {"18", "https://www.glamira.ch/", "de", 120, 5},
    {"19", "https://www.glamira.ch/fr/", "fr", 120, 2},
    {"20", "https://www.glamira.ch/it/", "it", 120, 1},
    {"21", "https://www.glamira.be/", "nl", 120, 3},
    {"22", "https://www.glamira.be/fr/", "fr", 120, 3},
    {"23", "https://www.glamira.pt/", "pt", 60, 3},
    {"24", "https://www.glamira.com.br/", "pt", -180, 5},
    {"25", "https://www.glamira.com.mx/", "es", -360, 4},
    {"26", "https://www.glamira.com.au/", "en", 600, 5},
    {"27", "https://www.glamira.ca/", "en", -240, 4},
    {"28", "https://www.glamira.ca/fr/", "fr", -240, 2},
    {"29", "https://www.glamira.ie/", "en", 60, 2},
    {"30", "https://www.glamira.fi/", "fi", 180, 2},
    {"31", "https://www.glamira.no/", "no", 120, 2},
    {"32", "https://www.glamira.cz/", "cs", 120, 2},
    {"33", "https://www.glamira.ro/", "ro", 180, 2},
    {"34", "https://www.glamira.hu/", "hu", 120, 2},
    {"35", "https://www.glamira.gr/", "el", 180, 1},
    {"36", "https://www.glamira.jp/", "ja", 540, 2},
    {"37", "https://www.glamira.vn/", "vi", 420, 2},
};
const size_t pv_nshops = sizeof(pv_shops) / sizeof(pv_shops[0]);

const char *const pv_resolutions[] = {"1920x1080", "1366x768",  "390x844",  "1536x864",  "414x896",
                                      "360x800",   "412x915",   "375x667",  "1440x900",  "393x873",
                                      "1280x720",  "2560x1440", "768x1024", "1600x900",  "428x926",
                                      "360x640",   "1280x800",  "810x1080", "3840x2160", "320x568"};
const size_t pv_nres = sizeof(pv_resolutions) / sizeof(pv_resolutions[0]);

static const char *const TYPES[] = {"Ring",     "Engagement Ring", "Wedding Ring", "Pendant",
                                    "Necklace", "Earring",         "Bracelet",     "Bangle",
                                    "Anklet",   "Brooch",          "Men's Ring",   "Eternity Ring"};
/* given names, and their page-name spelling */
static const char *const NAMES[][2] = {
    {"Zarina", "zarina"},
    {"Elara", "elara"},
    {"Mirabel", "mirabel"},
    {"Ophira", "ophira"},
    {"Selene", "selene"},
    {"Talia", "talia"},
    {"Vanya", "vanya"},
    {"Liora", "liora"},
    {"Amara", "amara"},
    {"Brisa", "brisa"},
    {"Celine", "celine"},
    {"Dalia", "dalia"},
    {"Esme", "esme"},
    {"Fleur", "fleur"},
    {"Giselle", "giselle"},
    {"Halia", "halia"},
    {"Ilse", "ilse"},
    {"Juno", "juno"},
    {"Kalina", "kalina"},
    {"Lumi", "lumi"},
    {"Maelle", "maelle"},
    {"Nerea", "nerea"},
    {"Odile", "odile"},
    {"Perla", "perla"},
    {"Quilla", "quilla"},
    {"Rosalind", "rosalind"},
    {"Sabine", "sabine"},
    {"Tindra", "tindra"},
    {"Ulla", "ulla"},
    {"Verena", "verena"},
    {"Wilma", "wilma"},
    {"Xenia", "xenia"},
    {"Yara", "yara"},
    {"Zelda", "zelda"},
    {"Ada", "ada"},
    {"Bettina", "bettina"},
    {"Corinna", "corinna"},
    {"Dorit", "dorit"},
    {"Zo\xc3\xab", "zoe"},
    {"Ana\xc3\xafs", "anais"},
    {"Chlo\xc3\xa9", "chloe"},
    {"M\xc3\xa9lanie", "melanie"},
};
static const char *const METALS[] = {"585 White Gold", "750 Yellow Gold", "Platinum", "925 Silver"};

/* ---- user agents ---------------------------------------------------------------------- */

/* Whether a test agent is a browser a shop's tracker would hear from (not a crawler, a
 * library or a feed reader: those do not run the page's script). */
static bool
ua_browser(const char *ua)
{
    static const char *const not [] = {"bot", "crawl", "spider", "http:", "https:", "slurp"};

    if (strncmp(ua, "Mozilla/5.0 (", 13) != 0)
        return false;
    for (size_t i = 0; i < sizeof(not ) / sizeof(not [0]); i++)
        if (strcasestr(ua, not [i]) != NULL)
            return false;
    return true;
}

/* Append a copy of v to the list (*out, *n of *cap). 0 or -1 (out of memory). */
static int
ua_add(char ***out, size_t *n, size_t *cap, const char *v)
{
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 1024;
        char **grown = realloc(*out, c * sizeof(*grown));
        if (grown == NULL)
            return -1;
        *out = grown, *cap = c;
    }
    if (((*out)[*n] = strdup(v)) == NULL)
        return -1;
    (*n)++;
    return 0;
}

/* The browsers' user_agent_string of uap-core's test file into a list (no libyaml type
 * leaves this function). */
static int
ua_read(FILE *f, const char *path, char ***out, size_t *n, struct err *e)
{
    yaml_parser_t yp;
    yaml_event_t ev;
    bool want = false, done = false;
    size_t cap = 0;
    int rc = 0;

    yaml_parser_initialize(&yp);
    yaml_parser_set_input_file(&yp, f);
    while (rc == 0 && !done) {
        if (!yaml_parser_parse(&yp, &ev)) {
            rc = err_set(e, ERR_PARSE, "%s:%zu: %s", path, yp.problem_mark.line + 1,
                         yp.problem ? yp.problem : "YAML error");
            break;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        if (ev.type == YAML_SCALAR_EVENT) {
            const char *v = (const char *)ev.data.scalar.value;
            if (want && ua_browser(v) && ua_add(out, n, &cap, v) < 0)
                rc = err_set(e, ERR_FAIL, "out of memory");
            want = strcmp(v, "user_agent_string") == 0;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&yp);
    return rc;
}

/* The popularity rank of ua's browser family among those that lead real traffic statistics
 * (0 = most used), by uaparse's answer; RANK_OTHER for the rest. */
enum { RANK_OTHER = 100 };
static int
ua_rank(const struct uaparse *u, const char *ua)
{
    static const char *const common[] = {
        "Chrome Mobile",  "Mobile Safari",
        "Chrome",         "Samsung Internet",
        "Safari",         "Edge",
        "Firefox",        "Chrome Mobile iOS",
        "Facebook",       "Chrome Mobile WebView",
        "Instagram",      "Opera",
        "Firefox Mobile",
    };
    struct uaparse_result r;

    uaparse_parse(u, ua, strlen(ua), &r);
    for (size_t i = 0; i < sizeof(common) / sizeof(common[0]); i++)
        if (strcmp(r.browser, common[i]) == 0)
            return (int)i;
    return RANK_OTHER;
}

/* Order ua[0..n) by the popularity of its browser family, stable (the random order stays
 * within a family), so the Zipf weights (highest first) give a realistic mix: mostly Chrome
 * Mobile, Mobile Safari, Chrome, Samsung Internet, with a long tail of the rest. Without
 * uap-core's regexes the order is unchanged. */
static void
ua_popular_first(char **ua, size_t n)
{
    struct err e = {0};
    struct uaparse *u = uaparse_new(NULL, &e);
    int rank[UA_SAMPLE];

    for (size_t i = 0; u && i < n && i < UA_SAMPLE; i++) { /* insertion sort: n is small */
        int ri = ua_rank(u, ua[i]);
        char *t = ua[i];
        size_t j = i;
        for (; j > 0 && rank[j - 1] > ri; j--) {
            ua[j] = ua[j - 1];
            rank[j] = rank[j - 1];
        }
        ua[j] = t;
        rank[j] = ri;
    }
    uaparse_free(u);
}

/* Read the file, keep a random UA_SAMPLE of its agents (the rest freed). */
static int
ua_pool(struct pv_pools *p, const struct pvgen_opts *o, struct err *e)
{
    const char *path = o->ua_file ? o->ua_file : PVGEN_UA_FILE;
    FILE *f = fopen(path, "re");
    struct rng r = rng_for(o->seed, 1, 0);
    char **all = NULL;
    size_t n = 0;
    int rc;

    if (f == NULL)
        return err_set(e, ERR_IO, "user agents %s: %s", path, strerror(errno));
    rc = ua_read(f, path, &all, &n, e);
    fclose(f);
    if (rc == 0 && n == 0)
        rc = err_set(e, ERR_PARSE, "user agents %s: no browser's user_agent_string in it", path);
    for (size_t i = 0; rc == 0 && i < n && i < UA_SAMPLE; i++) { /* partial Fisher-Yates */
        size_t j = i + (size_t)rng_below(&r, n - i);
        char *t = all[i];
        all[i] = all[j], all[j] = t;
    }
    p->nua = rc == 0 ? (n < UA_SAMPLE ? n : UA_SAMPLE) : 0; /* on error: every one freed */
    for (size_t i = p->nua; i < n; i++)
        free(all[i]);
    p->ua = all;
    if (rc == 0)
        ua_popular_first(all, p->nua);
    if (rc == 0 && (p->ua_cum = zipf_cum(p->nua, 0.8)) == NULL)
        rc = err_set(e, ERR_FAIL, "out of memory");
    return rc;
}

/* ---- IP addresses --------------------------------------------------------------------- */

/* Whether a is in a block that is not public (RFC 6890's special-purpose IPv4 space). */
static bool
ip4_special(uint32_t a)
{
    unsigned o1 = a >> 24, o2 = (a >> 16) & 255;

    return o1 == 0 || o1 == 10 || o1 == 127 || o1 >= 224 || (o1 == 100 && (o2 & 0xC0) == 64) ||
           (o1 == 169 && o2 == 254) || (o1 == 172 && (o2 & 0xF0) == 16) ||
           (o1 == 192 && o2 == 168) || (o1 == 198 && (o2 & 0xFE) == 18);
}

/* Keep ip when geo knows its country and the country has fewer than max addresses. */
static bool
ip_keep(const struct geo *geo, const char *ip, char (*seen)[3], int *counts, int max)
{
    struct geo_result gr;
    int k = 0;

    if (!geo_lookup(geo, ip, &gr) || strlen(gr.country_code) != 2 ||
        strstr("A1 A2 AP EU O1", gr.country_code) != NULL) /* proxies, regions: no country */
        return false;
    while (seen[k][0] != '\0' && strcmp(seen[k], gr.country_code) != 0)
        k++;
    if (counts[k] >= max)
        return false;
    memcpy(seen[k], gr.country_code, 3);
    counts[k]++;
    return true;
}

static int
ip_pool(struct pv_pools *p, const struct pvgen_opts *o, struct err *e)
{
    static const unsigned nets[][2] = {
        {0x2a00, 0x1450}, {0x2a03, 0x2880}, {0x2400, 0xcb00}, {0x2600, 0x1f18}, {0x2804, 0x14c},
        {0x2c0f, 0xfb50}, {0x2a02, 0x2e0},  {0x2001, 0xda8},  {0x2800, 0x3f0},  {0x2403, 0x6200}};
    struct rng r = rng_for(o->seed, 2, 0);
    char(*seen)[3] = calloc(300, sizeof(*seen));
    int *counts = calloc(300, sizeof(*counts));

    p->ip = calloc(IP4_MAX + IP6_MAX, sizeof(*p->ip));
    if (seen == NULL || counts == NULL || p->ip == NULL) {
        free(seen), free(counts);
        return err_set(e, ERR_FAIL, "out of memory");
    }
    for (int t = 0; t < IP4_TRIES && p->nip < IP4_MAX; t++) {
        uint32_t a = (uint32_t)rng_next(&r);
        if (ip4_special(a))
            continue;
        snprintf(p->ip[p->nip], sizeof(p->ip[0]), "%u.%u.%u.%u", a >> 24, (a >> 16) & 255,
                 (a >> 8) & 255, a & 255);
        p->nip += ip_keep(o->geo, p->ip[p->nip], seen, counts, IP4_PER_COUNTRY);
    }
    p->nip4 = p->nip;
    for (int t = 0; t < 10 * IP6_MAX && p->nip < p->nip4 + IP6_MAX; t++) {
        uint64_t a = rng_next(&r);
        const unsigned *net = nets[t % 10];
        snprintf(p->ip[p->nip], sizeof(p->ip[0]), "%x:%x:%x:%x::%x", net[0], net[1],
                 (unsigned)(a >> 48), (unsigned)(a >> 32) & 0xFFFF, (unsigned)a & 0xFFFF);
        p->nip += ip_keep(o->geo, p->ip[p->nip], seen, counts, 1000);
    }
    free(seen), free(counts);
    if (p->nip4 == 0)
        return err_set(e, ERR_FAIL, "the GeoIP data knows no country of any random address");
    return 0;
}

/* ---- products and devices ------------------------------------------------------------- */

void
pv_product_url(const struct pv_product *pr, int shop, char *out, size_t n)
{
    snprintf(out, n, "%sglamira-%s.html", pv_shops[shop].base, pr->slug);
}

static uint32_t *
shop_cum(void)
{
    uint32_t *cum = malloc(pv_nshops * sizeof(*cum)), total = 0;

    for (size_t i = 0; cum != NULL && i < pv_nshops; i++)
        cum[i] = total += pv_shops[i].weight;
    return cum;
}

/* One product from combination c of TYPES x NAMES; id is distinct (the index is in it). */
static void
product_make(struct pv_product *pr, size_t k, size_t c, struct rng *r, const uint32_t *scum)
{
    size_t nn = sizeof(NAMES) / sizeof(NAMES[0]);
    const char *type = TYPES[c / nn], *const *name = NAMES[c % nn];
    char tslug[32];
    size_t j = 0;

    for (const char *t = type; *t != '\0' && j + 1 < sizeof(tslug); t++)
        if (*t != '\'')
            tslug[j++] = *t == ' ' ? '-' : (char)(*t | 0x20);
    tslug[j] = '\0';
    snprintf(pr->id, sizeof(pr->id), "%llu", 100000ULL + k * 397 + rng_below(r, 397));
    if (rng_chance(r, 80)) /* a name the catalogue has to quote */
        snprintf(pr->name, sizeof(pr->name), "Glamira %s \"%s\", %s", type, name[0],
                 METALS[rng_below(r, 4)]);
    else
        snprintf(pr->name, sizeof(pr->name), "Glamira %s %s", type, name[0]);
    snprintf(pr->slug, sizeof(pr->slug), "%s-%s", tslug, name[1]);
    pr->home_shop = (int)rng_pick(r, scum, pv_nshops);
    pr->in_catalogue = rng_chance(r, 500);
}

static int
product_pool(struct pv_pools *p, const struct pvgen_opts *o, struct err *e)
{
    size_t ncomb = (sizeof(TYPES) / sizeof(TYPES[0])) * (sizeof(NAMES) / sizeof(NAMES[0]));
    size_t *comb = malloc(ncomb * sizeof(*comb));
    uint32_t *scum = shop_cum();
    struct rng r = rng_for(o->seed, 3, 0);

    p->nprod = NPROD < ncomb ? NPROD : ncomb;
    p->prod = calloc(p->nprod, sizeof(*p->prod));
    p->prod_cum = zipf_cum(p->nprod, 1.0);
    if (comb == NULL || scum == NULL || p->prod == NULL || p->prod_cum == NULL) {
        free(comb), free(scum);
        return err_set(e, ERR_FAIL, "out of memory");
    }
    for (size_t i = 0; i < ncomb; i++)
        comb[i] = i;
    for (size_t k = 0; k < p->nprod; k++) { /* distinct combinations: distinct pages */
        size_t j = k + (size_t)rng_below(&r, ncomb - k), t = comb[k];
        comb[k] = comb[j], comb[j] = t;
        product_make(&p->prod[k], k, comb[k], &r, scum);
    }
    /* ids in random order of popularity, not ascending with it */
    for (size_t k = p->nprod - 1; k > 0; k--) {
        size_t j = (size_t)rng_below(&r, k + 1);
        char t[16];
        memcpy(t, p->prod[k].id, 16), memcpy(p->prod[k].id, p->prod[j].id, 16);
        memcpy(p->prod[j].id, t, 16);
    }
    free(comb), free(scum);
    return 0;
}

static const char *const FIRST[] = {
    "anna",   "lena",   "marie",  "sophie", "julia", "laura", "emma",   "sarah", "chloe",  "lucia",
    "giulia", "olivia", "amelia", "hannah", "nina",  "eva",   "thomas", "lukas", "pierre", "james"};
static const char *const MAIL[] = {"gmail.com",   "web.de",    "gmx.de",
                                   "hotmail.com", "yahoo.fr",  "outlook.com",
                                   "icloud.com",  "orange.fr", "libero.it"};

/* An index into a pool of n: -1 (null) or -2 (missing) now and then. */
static int
pick_or_null(struct rng *r, size_t n, const uint32_t *cum)
{
    uint64_t x = rng_below(r, 1000);

    if (x < 5)
        return -1;
    if (x < 10)
        return -2;
    return (int)(cum != NULL ? rng_pick(r, cum, n) : rng_below(r, n));
}

static void
device_make(struct pv_device *d, const struct pv_pools *p, struct rng *r, const uint32_t *scum)
{
    uint64_t x;

    rng_uuid(r, d->uuid);
    d->ua = pick_or_null(r, p->nua, p->ua_cum);
    d->ip = pick_or_null(r, p->nip4, NULL);
    if (d->ip >= 0 && p->nip > p->nip4 && rng_chance(r, 30))
        d->ip = (int)(p->nip4 + rng_below(r, p->nip - p->nip4));
    d->res = (int)(rng_below(r, pv_nres) * rng_below(r, 1000) / 1000); /* first ones commoner */
    d->shop = (int)rng_pick(r, scum, pv_nshops);
    x = rng_below(r, 1000);
    if (x < 150)
        snprintf(d->email, sizeof(d->email), "%s.%s%u@%s", FIRST[rng_below(r, 20)],
                 FIRST[rng_below(r, 20)], (unsigned)rng_below(r, 100), MAIL[rng_below(r, 9)]);
    else
        snprintf(d->email, sizeof(d->email), "%s", x < 200 ? "-" : "");
    if (rng_chance(r, 200))
        snprintf(d->user_id, sizeof(d->user_id), "%u", 100000 + (unsigned)rng_below(r, 900000));
}

static int
device_pool(struct pv_pools *p, const struct pvgen_opts *o, struct err *e)
{
    uint32_t *scum = shop_cum();
    struct rng r = rng_for(o->seed, 4, 0);
    long long n = DEV_MIN + o->count / 3;

    p->ndev = (size_t)(n < DEV_MAX ? n : DEV_MAX);
    p->dev = calloc(p->ndev, sizeof(*p->dev));
    if (scum == NULL || p->dev == NULL) {
        free(scum);
        return err_set(e, ERR_FAIL, "out of memory");
    }
    for (size_t i = 0; i < p->ndev; i++)
        device_make(&p->dev[i], p, &r, scum);
    free(scum);
    return 0;
}

int
pv_pools_new(struct pv_pools *p, const struct pvgen_opts *o, struct err *e)
{
    memset(p, 0, sizeof(*p));
    if (ua_pool(p, o, e) < 0 || ip_pool(p, o, e) < 0 || product_pool(p, o, e) < 0 ||
        device_pool(p, o, e) < 0) {
        pv_pools_clear(p);
        return -1;
    }
    return 0;
}

void
pv_pools_clear(struct pv_pools *p)
{
    for (size_t i = 0; i < p->nua; i++)
        free(p->ua[i]);
    free(p->ua);
    free(p->ua_cum);
    free(p->ip);
    free(p->prod);
    free(p->prod_cum);
    free(p->dev);
    memset(p, 0, sizeof(*p));
}
