/* pvgen_int: what pvgen.c (events, messages) and pvgen_pool.c (the pools drawn once per seed)
 * share. Private to the pvgen module. */
#ifndef GUST_PVGEN_INT_H
#define GUST_PVGEN_INT_H

#include <stddef.h>
#include <stdint.h>

#include "pvgen.h"

/* splitmix64: small, fast, and the same numbers on every platform. */
struct rng {
    uint64_t s;
};

/* A stream of numbers for (seed, what, i): independent streams for different what or i. */
struct rng rng_for(uint64_t seed, uint64_t what, uint64_t i);
uint64_t rng_next(struct rng *r);
/* Uniform in [0, n) (n > 0). */
uint64_t rng_below(struct rng *r, uint64_t n);
/* True with probability per_mille / 1000. */
bool rng_chance(struct rng *r, unsigned per_mille);
/* An index drawn from a cumulative weight table cum[0..n) (cum[n - 1] is the total). */
size_t rng_pick(struct rng *r, const uint32_t *cum, size_t n);
/* A UUID v4 in text (37 bytes with the NUL). */
void rng_uuid(struct rng *r, char out[37]);

/* One shop: a site of the brand in one country and language. */
struct pv_shop {
    const char *store_id;
    const char *base;   /* "https://www.glamira.de/" or "https://www.glamira.com/fr/" */
    const char *lang;   /* the language of its pages */
    int utc_offset_min; /* the shoppers' clock (summer time) */
    unsigned weight;    /* share of the traffic */
};
extern const struct pv_shop pv_shops[];
extern const size_t pv_nshops;

/* Screen sizes ("1920x1080"), most common first. */
extern const char *const pv_resolutions[];
extern const size_t pv_nres;

struct pv_product {
    char id[16];
    char name[96]; /* may hold a comma and quotes: the catalogue quotes it */
    char slug[96]; /* the page name: glamira-<slug>.html */
    int home_shop; /* where the catalogue's URL points */
    bool in_catalogue;
};

struct pv_device {
    char uuid[37];
    int ua;         /* index in ua[], -1: null, -2: missing */
    int ip;         /* index in ip[], -1: null, -2: missing */
    int res;        /* index in the resolution table */
    int shop;       /* where this shopper usually buys */
    char email[64]; /* "" none, "-" missing */
    char user_id[16];
};

struct pv_pools {
    char **ua;
    size_t nua;
    uint32_t *ua_cum; /* Zipf-like: a few agents are very common */
    char (*ip)[48];   /* IPv4 addresses first, then IPv6 */
    size_t nip, nip4;
    struct pv_product *prod;
    size_t nprod;
    uint32_t *prod_cum;
    struct pv_device *dev;
    size_t ndev;
};

/* Draw every pool for o (the device pool grows with count). */
int pv_pools_new(struct pv_pools *p, const struct pvgen_opts *o, struct err *e);
void pv_pools_clear(struct pv_pools *p);

/* The product's page on a shop (no query), into out. */
void pv_product_url(const struct pv_product *pr, int shop, char *out, size_t n);

#endif
