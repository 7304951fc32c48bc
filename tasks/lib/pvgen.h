/* pvgen: the made-up behaviour events of the product_view pipeline (a jewellery web shop's
 * product page views, as its tracker sends them to Kafka), deterministic for a seed.
 *
 * A run is count events (broken ones included) and duplicates more messages, each an earlier
 * valid event re-sent byte for byte. Message m is a pure function of the options and m, so
 * the same options give the same bytes in any order of asking. Broken events are spread
 * evenly and cycle through four kinds: not JSON, no "id", a time_stamp that is a word, an
 * option that is an object. Valid events carry an "id" (UUID v4, also the message key) and an
 * integer "time_stamp"; any other field may be missing or null now and then, as in the real
 * feed. Pools drawn once per seed: a few hundred products (Zipf-like popularity, one page
 * per product and shop), shops of many countries and languages, real user agents sampled from
 * uap-core's test file, public IP addresses of many countries (checked with geo), devices
 * that keep their user agent, address and screen. */
#ifndef GUST_PVGEN_H
#define GUST_PVGEN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"
#include "geo.h"

#define PVGEN_UA_FILE "/usr/share/uap-core/tests/test_ua.yaml"

struct pvgen_opts {
    uint64_t seed;
    long long count;       /* events, broken ones included (>= 0) */
    long long broken;      /* of count (0..count) */
    long long duplicates;  /* extra messages re-sending earlier events (0..count) */
    int64_t start;         /* time_stamp of the first event, epoch seconds */
    int days;              /* the events' time_stamps are in [start, start + days * 86400) */
    const char *ua_file;   /* uap-core's test_ua.yaml (NULL: PVGEN_UA_FILE) */
    const struct geo *geo; /* borrowed; used only by pvgen_new */
};

/* What a message is. */
enum pvgen_kind {
    PVGEN_EVENT,      /* a valid event */
    PVGEN_NOT_JSON,   /* broken: not a JSON text */
    PVGEN_NO_ID,      /* broken: an object without "id" */
    PVGEN_BAD_TIME,   /* broken: time_stamp is a string such as "yesterday" */
    PVGEN_BAD_OPTION, /* broken: option is an object, not an array */
    PVGEN_DUPLICATE,  /* an earlier valid event again, byte for byte */
    PVGEN_KINDS
};

/* One message. text is owned by the generator, valid until the next pvgen_message. */
struct pvgen_msg {
    const char *text;
    size_t len;
    char key[40]; /* the event's id (UUID text), also for broken events */
    enum pvgen_kind kind;
    long long event; /* the event's index; for a duplicate, the original's */
};

struct pvgen;

/* Build the pools (reads ua_file; ERR_IO/ERR_PARSE naming it). new. */
struct pvgen *pvgen_new(const struct pvgen_opts *o, struct err *e);
void pvgen_free(struct pvgen *g);

/* Messages in the run: count + duplicates. */
long long pvgen_total(const struct pvgen *g);

/* Message m (0 <= m < pvgen_total) into out. */
int pvgen_message(struct pvgen *g, long long m, struct pvgen_msg *out, struct err *e);

/* The product catalogue as CSV (header product_id,name,url,language_code; RFC 4180 quoting)
 * for about half of the products. ERR_IO when writing fails. */
int pvgen_catalogue(const struct pvgen *g, FILE *out, struct err *e);

/* "event", "not_json", "no_id", "bad_time_stamp", "bad_option", "duplicate". */
const char *pvgen_kind_name(enum pvgen_kind k);

#endif
