/* Unit tests for tasks/lib/kafka against librdkafka's mock cluster, started in-process (the
 * code under test connects to it over loopback TCP like to any broker): 1000 keyed messages
 * produced and acknowledged, consumed back by explicit assignment from stored offsets (one
 * partition from the beginning, one from its middle, one from its end) up to EOF on each;
 * the data-loss check on a partition whose head the mock really deleted (it keeps about
 * 5 MiB per partition, so 8 MiB pushes the log start forward); an unreachable broker (flush
 * fails in time, temporary, nothing delivered); configuration errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "kafka.h"

enum { N_MSGS = 1000, BIG_MSG = 100 * 1024, BIG_MSGS = 80 };

struct mock {
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mc;
    char servers[300]; /* "bootstrap.servers=..." */
};

static struct mock mock;

static int
mock_start(void **state)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();

    (void)state;
    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
    /* A handle that never produces, only hosts the cluster (as tests/tools/kafka_mock.c). */
    if ((mock.rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr))) == NULL)
        return -1;
    if ((mock.mc = rd_kafka_mock_cluster_new(mock.rk, 1)) == NULL)
        return -1;
    if (rd_kafka_mock_topic_create(mock.mc, "t3", 3, 1) ||
        rd_kafka_mock_topic_create(mock.mc, "small", 1, 1))
        return -1;
    snprintf(mock.servers, sizeof(mock.servers), "bootstrap.servers=%s",
             rd_kafka_mock_cluster_bootstraps(mock.mc));
    return 0;
}

static int
mock_stop(void **state)
{
    (void)state;
    rd_kafka_mock_cluster_destroy(mock.mc);
    rd_kafka_destroy(mock.rk);
    return 0;
}

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct kq_producer *
producer(void)
{
    const char *props[] = {mock.servers, NULL};
    struct err e = {0};
    struct kq_producer *p = kq_producer_new(props, &e);

    if (p == NULL)
        fail_msg("kq_producer_new: %s", e.msg);
    return p;
}

static struct kq_consumer *
consumer(void)
{
    const char *props[] = {mock.servers, NULL};
    struct err e = {0};
    struct kq_consumer *c = kq_consumer_new(props, "test-loader", &e);

    if (c == NULL)
        fail_msg("kq_consumer_new: %s", e.msg);
    return c;
}

static void
test_config_errors(void **state)
{
    (void)state;
    const char *none[] = {"linger.ms=5", NULL};
    const char *bad[] = {mock.servers, "no.such.property=1", NULL};
    const char *noeq[] = {mock.servers, "linger.ms", NULL};
    struct err e = {0};

    assert_null(kq_producer_new(none, &e));
    assert_int_equal(e.code, ERR_USAGE);
    assert_non_null(strstr(e.msg, "bootstrap.servers"));
    assert_null(kq_producer_new(NULL, &e));
    assert_int_equal(e.code, ERR_USAGE);
    assert_null(kq_consumer_new(none, "g", &e));
    assert_int_equal(e.code, ERR_USAGE);
    assert_non_null(strstr(e.msg, "bootstrap.servers"));
    assert_null(kq_producer_new(bad, &e));
    assert_int_equal(e.code, ERR_USAGE);
    assert_non_null(strstr(e.msg, "no.such.property"));
    assert_null(kq_consumer_new(noeq, NULL, &e));
    assert_int_equal(e.code, ERR_USAGE);
    kq_producer_free(NULL);
    kq_consumer_free(NULL);
}

/* Produce N_MSGS keyed messages to t3; all must be acknowledged. */
static void
produce_keyed(void)
{
    struct kq_producer *p = producer();
    struct err e = {0};
    uint64_t sent, delivered, failed;
    char key[32], val[64];

    for (int i = 0; i < N_MSGS; i++) {
        int kl = snprintf(key, sizeof(key), "key-%d", i);
        int vl = snprintf(val, sizeof(val), "value-%d", i);
        if (kq_produce(p, "t3", key, (size_t)kl, val, (size_t)vl, &e) != 0)
            fail_msg("kq_produce: %s", e.msg);
    }
    if (kq_flush(p, 15000, &e) != 0)
        fail_msg("kq_flush: %s", e.msg);
    kq_producer_stats(p, &sent, &delivered, &failed);
    assert_int_equal(sent, N_MSGS);
    assert_int_equal(delivered, N_MSGS);
    assert_int_equal(failed, 0);
    kq_producer_free(p);
}

struct part_seen {
    int64_t start, high, next, count;
    int eof;
};

/* One consumed message: in order, within range, value matching key. */
static void
check_msg(struct part_seen *ps, const struct kq_msg *m, char *seen)
{
    char key[32], want[64];
    int id;

    assert_string_equal(m->topic, "t3");
    assert_true(m->partition >= 0 && m->partition < 3);
    if (m->offset != ps->next)
        fail_msg("partition %d: offset %lld, want %lld", m->partition, (long long)m->offset,
                 (long long)ps->next);
    assert_true(m->klen < sizeof(key));
    memcpy(key, m->key, m->klen);
    key[m->klen] = '\0';
    assert_int_equal(sscanf(key, "key-%d", &id), 1);
    assert_true(id >= 0 && id < N_MSGS && !seen[id]);
    seen[id] = 1;
    int wl = snprintf(want, sizeof(want), "value-%d", id);
    assert_int_equal(m->vlen, wl);
    assert_memory_equal(m->value, want, (size_t)wl);
    assert_true(m->timestamp_ms > 0);
    ps->next++;
    ps->count++;
}

/* Poll until every partition reported EOF (deadline 20 s). */
static void
consume_to_eof(struct kq_consumer *c, struct part_seen *ps, char *seen)
{
    int64_t deadline = now_ms() + 20000;
    struct err e = {0};
    struct kq_msg m;
    int eofs = 0;

    while (eofs < 3) {
        if (now_ms() > deadline)
            fail_msg("only %d of 3 partitions reached EOF", eofs);
        int rc = kq_poll(c, 200, &m, &e);
        if (rc < 0)
            fail_msg("kq_poll: %s", e.msg);
        if (rc == KQ_MSG)
            check_msg(&ps[m.partition], &m, seen);
        if (rc == KQ_EOF && !ps[m.partition].eof) {
            assert_int_equal(m.offset, ps[m.partition].high);
            assert_null(m.value);
            ps[m.partition].eof = 1;
            eofs++;
        }
    }
}

static void
test_produce_consume(void **state)
{
    (void)state;
    struct err e = {0};
    struct part_seen ps[3] = {{0}};
    char *seen = calloc(N_MSGS, 1);
    int *parts;
    size_t n;
    int64_t low, total = 0, starts[3];

    produce_keyed();
    struct kq_consumer *c = consumer();
    assert_int_equal(kq_consumer_partitions(c, "t3", &parts, &n, &e), 0);
    assert_int_equal(n, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(parts[i], i);
        assert_int_equal(kq_watermarks(c, "t3", i, &low, &ps[i].high, &e), 0);
        assert_int_equal(low, 0);
        assert_true(ps[i].high > 1); /* 1000 keys spread over every partition */
        total += ps[i].high;
    }
    assert_int_equal(total, N_MSGS);
    /* Stored offsets: none yet (beginning), the middle, the end (already all loaded). */
    starts[0] = -1;
    starts[1] = ps[1].high / 2;
    starts[2] = ps[2].high;
    for (int i = 0; i < 3; i++)
        ps[i].next = starts[i] < 0 ? 0 : starts[i];
    assert_int_equal(kq_assign(c, "t3", parts, starts, 3, &e), 0);
    consume_to_eof(c, ps, seen);
    assert_int_equal(ps[0].count, ps[0].high);
    assert_int_equal(ps[1].count, ps[1].high - ps[1].high / 2);
    assert_int_equal(ps[2].count, 0);
    free(parts);
    free(seen);
    kq_consumer_free(c);
}

static void
test_unknown_topic(void **state)
{
    (void)state;
    struct err e = {0};
    struct kq_consumer *c = consumer();
    int *parts = (int *)&e;
    size_t n = 7;

    assert_int_equal(kq_consumer_partitions(c, "no_such_topic", &parts, &n, &e), -1);
    assert_int_equal(e.code, ERR_NOTFOUND);
    assert_null(parts);
    assert_int_equal(n, 0);
    kq_consumer_free(c);
}

static void
test_check_offset(void **state)
{
    (void)state;
    struct err e = {0};

    assert_int_equal(kq_check_offset("t", 0, 10, 10, 20, &e), 0);
    assert_int_equal(kq_check_offset("t", 0, 20, 10, 20, &e), 0);
    assert_int_equal(kq_check_offset("t", 2, 9, 10, 20, &e), -1);
    assert_int_equal(e.code, ERR_FAIL);
    assert_false(e.temporary);
    assert_string_equal(e.msg, "data loss: t [2]: stored offset 9 is below the log start 10: 1 "
                               "records were deleted before they were consumed; not resetting");
    assert_int_equal(kq_check_offset("t", 1, 21, 10, 20, &e), -1);
    assert_non_null(
        strstr(e.msg, "data loss: t [1]: stored offset 21 is beyond the end offset 20"));
}

/* Push 8 MiB through the one partition of "small": the mock drops its oldest batches. */
static void
fill_small(void)
{
    struct kq_producer *p = producer();
    struct err e = {0};
    char *val = malloc(BIG_MSG);

    for (int i = 0; i < BIG_MSGS; i++) {
        memset(val, 'a' + i % 26, BIG_MSG);
        if (kq_produce(p, "small", NULL, 0, val, BIG_MSG, &e) != 0)
            fail_msg("kq_produce: %s", e.msg);
    }
    if (kq_flush(p, 15000, &e) != 0)
        fail_msg("kq_flush: %s", e.msg);
    free(val);
    kq_producer_free(p);
}

static void
test_data_loss(void **state)
{
    (void)state;
    struct err e = {0};
    const int part = 0;
    int64_t low, high, stored = 0;
    struct kq_msg m;

    fill_small();
    struct kq_consumer *c = consumer();
    assert_int_equal(kq_watermarks(c, "small", part, &low, &high, &e), 0);
    assert_int_equal(high, BIG_MSGS);
    if (low <= 0)
        fail_msg("the mock kept the whole log (low %lld): cannot test data loss", (long long)low);
    assert_int_equal(kq_assign(c, "small", &part, &stored, 1, &e), -1);
    assert_int_equal(e.code, ERR_FAIL);
    assert_false(e.temporary);
    char want[128];
    snprintf(want, sizeof(want),
             "data loss: small [0]: stored offset 0 is below the log start %lld", (long long)low);
    assert_memory_equal(e.msg, want, strlen(want));

    /* From the log start itself everything left is readable. */
    assert_int_equal(kq_assign(c, "small", &part, &low, 1, &e), 0);
    int64_t deadline = now_ms() + 20000, next = low;
    for (int rc = 0; rc != KQ_EOF && now_ms() < deadline;) {
        if ((rc = kq_poll(c, 200, &m, &e)) < 0)
            fail_msg("kq_poll: %s", e.msg);
        if (rc == KQ_MSG) {
            assert_int_equal(m.offset, next++);
            assert_int_equal(m.vlen, BIG_MSG);
            assert_null(m.key);
            kq_msg_release(&m);
            kq_msg_release(&m); /* idempotent */
            assert_null(m.value);
        }
    }
    assert_int_equal(next, high);
    kq_consumer_free(c);
}

/* A loopback port with nothing listening (bound, then closed). */
static int
closed_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static void
test_unreachable_broker(void **state)
{
    (void)state;
    char servers[64];
    const char *props[] = {servers, NULL};
    struct err e = {0};
    uint64_t sent, delivered, failed;

    snprintf(servers, sizeof(servers), "bootstrap.servers=127.0.0.1:%d", closed_port());
    struct kq_producer *p = kq_producer_new(props, &e);
    assert_non_null(p);
    for (int i = 0; i < 10; i++)
        assert_int_equal(kq_produce(p, "t3", "k", 1, "v", 1, &e), 0);
    int64_t t0 = now_ms();
    assert_int_equal(kq_flush(p, 1500, &e), -1);
    int64_t took = now_ms() - t0;
    if (took < 1400 || took > 4000)
        fail_msg("kq_flush took %lld ms for a 1500 ms timeout", (long long)took);
    assert_true(e.temporary);
    assert_int_equal(e.code, ERR_IO);
    assert_non_null(strstr(e.msg, "10 of 10 messages not acknowledged within 1500 ms"));
    kq_producer_stats(p, &sent, &delivered, &failed);
    assert_int_equal(sent, 10);
    assert_int_equal(delivered, 0);
    assert_int_equal(failed, 10); /* purged at the deadline */
    /* Later flushes keep failing: the watermark must not move past lost messages. */
    assert_int_equal(kq_flush(p, 100, &e), -1);
    kq_producer_free(p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_errors),   cmocka_unit_test(test_check_offset),
        cmocka_unit_test(test_produce_consume), cmocka_unit_test(test_unknown_topic),
        cmocka_unit_test(test_data_loss),       cmocka_unit_test(test_unreachable_broker),
    };
    return cmocka_run_group_tests(tests, mock_start, mock_stop);
}
