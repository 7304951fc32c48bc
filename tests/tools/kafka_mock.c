/* kafka_mock: a Kafka-protocol broker for tests, built on librdkafka's mock cluster.
 *
 *   kafka_mock [-b BROKERS] [-t TOPIC:PARTITIONS]... [--stdin]
 *
 * Starts BROKERS (default 1) mock brokers listening on loopback TCP, creates the given
 * topics, prints the bootstrap list ("127.0.0.1:p1,127.0.0.1:p2") as one line on stdout and
 * lives until SIGTERM or SIGINT, or until stdin reaches EOF when --stdin is given (so the
 * broker dies with the shell that holds the other end of its stdin). With --stdin, the lines
 * "down" and "up" on stdin take every broker down (connections closed and refused) or bring
 * them back on the same ports: a broker outage for tests. Exit codes: 0 after a
 * clean stop, 100 usage, 111 system error.
 *
 * Key invariant: the signals are blocked before librdkafka starts its threads, so they are
 * only ever received through the signalfd that the main thread polls; nothing runs in a
 * signal handler and nothing busy-waits. Know the mock's limit: it keeps about 5 MiB (and
 * 100,000 messages) per partition and silently drops older data. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

enum { EXIT_USAGE_TOOL = 100, EXIT_SYSTEM = 111, MAX_TOPICS = 64 };

struct topic_arg {
    char name[250];
    int partitions;
};

struct options {
    int brokers;
    int watch_stdin;
    struct topic_arg topics[MAX_TOPICS];
    int n_topics;
};

static void
usage(FILE *out)
{
    fprintf(out, "usage: kafka_mock [-b BROKERS] [-t TOPIC:PARTITIONS]... [--stdin]\n"
                 "  -b N          number of mock brokers (default 1)\n"
                 "  -t T:P        create topic T with P partitions (repeatable)\n"
                 "  --stdin       also exit when stdin reaches EOF; lines down/up on stdin\n"
                 "                take every broker down or back up\n"
                 "Prints the bootstrap server list on stdout, then runs until SIGTERM/SIGINT.\n");
}

static int
parse_topic(struct topic_arg *t, const char *arg)
{
    const char *colon = strrchr(arg, ':');
    char *end;
    long n = 1;
    size_t len = colon ? (size_t)(colon - arg) : strlen(arg);

    if (len == 0 || len >= sizeof(t->name))
        return -1;
    if (colon) {
        errno = 0;
        n = strtol(colon + 1, &end, 10);
        if (errno || *end || end == colon + 1 || n < 1 || n > 10000)
            return -1;
    }
    memcpy(t->name, arg, len);
    t->name[len] = '\0';
    t->partitions = (int)n;
    return 0;
}

static int
parse_args(struct options *o, int argc, char **argv)
{
    o->brokers = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (strcmp(a, "--stdin") == 0) {
            o->watch_stdin = 1;
        } else if (strcmp(a, "-b") == 0 && i + 1 < argc) {
            char *end;
            long n = strtol(argv[++i], &end, 10);

            if (*end || n < 1 || n > 64)
                return -1;
            o->brokers = (int)n;
        } else if (strcmp(a, "-t") == 0 && i + 1 < argc) {
            if (o->n_topics == MAX_TOPICS || parse_topic(&o->topics[o->n_topics], argv[++i]))
                return -1;
            o->n_topics++;
        } else {
            return -1;
        }
    }
    return 0;
}

/* Block SIGTERM/SIGINT (before any thread exists) and return a signalfd for them. */
static int
signal_fd(void)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
        return -1;
    signal(SIGPIPE, SIG_IGN);
    return signalfd(-1, &set, SFD_CLOEXEC);
}

static rd_kafka_t *
new_handle(void)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;

    /* The handle only hosts the mock cluster; it never produces, so its notice about having
     * no bootstrap.servers (log level 5) is noise. */
    if (rd_kafka_conf_set(conf, "client.id", "kafka_mock", errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "log_level", "4", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "kafka_mock: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    /* rd_kafka_new takes conf only when it succeeds. */
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (rk == NULL) {
        fprintf(stderr, "kafka_mock: rd_kafka_new: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

/* Apply the "down"/"up" lines in buf (n bytes) to every broker. */
static void
stdin_commands(rd_kafka_mock_cluster_t *mc, int brokers, const char *buf, ssize_t n)
{
    for (const char *p = buf; p < buf + n; p++) {
        int down = strncmp(p, "down", 4) == 0, up = strncmp(p, "up", 2) == 0;

        for (int b = 1; (down || up) && b <= brokers; b++)
            (down ? rd_kafka_mock_broker_set_down : rd_kafka_mock_broker_set_up)(mc, b);
        if (down || up)
            fprintf(stderr, "kafka_mock: brokers %s\n", down ? "down" : "up");
        while (p < buf + n && *p != '\n')
            p++;
    }
}

/* Wait until a signal arrives or, with --stdin, stdin is at EOF. */
static int
wait_for_end(int sfd, int watch_stdin, rd_kafka_mock_cluster_t *mc, int brokers)
{
    struct pollfd p[2] = {{.fd = sfd, .events = POLLIN}, {.fd = 0, .events = POLLIN}};
    char buf[256];

    for (;;) {
        if (poll(p, watch_stdin ? 2 : 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (p[0].revents)
            return 0;
        if (watch_stdin && p[1].revents) {
            ssize_t n = read(0, buf, sizeof(buf));

            if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
                return 0;
            stdin_commands(mc, brokers, buf, n);
        }
    }
}

static int
create_topics(rd_kafka_mock_cluster_t *mc, const struct options *o)
{
    int replicas = o->brokers < 3 ? o->brokers : 3;

    for (int i = 0; i < o->n_topics; i++) {
        rd_kafka_resp_err_t err =
            rd_kafka_mock_topic_create(mc, o->topics[i].name, o->topics[i].partitions, replicas);

        if (err) {
            fprintf(stderr, "kafka_mock: create topic %s: %s\n", o->topics[i].name,
                    rd_kafka_err2str(err));
            return -1;
        }
    }
    return 0;
}

int
main(int argc, char **argv)
{
    struct options o = {0};
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mc;
    int sfd, rc = EXIT_SYSTEM;

    if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        usage(stdout);
        return 0;
    }
    if (parse_args(&o, argc, argv) != 0) {
        usage(stderr);
        return EXIT_USAGE_TOOL;
    }
    if ((sfd = signal_fd()) < 0) {
        perror("kafka_mock: signalfd");
        return EXIT_SYSTEM;
    }
    if ((rk = new_handle()) == NULL)
        return EXIT_SYSTEM;
    mc = rd_kafka_mock_cluster_new(rk, o.brokers);
    if (mc == NULL) {
        fprintf(stderr, "kafka_mock: could not create the mock cluster\n");
        goto out;
    }
    if (create_topics(mc, &o) == 0) {
        printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
        if (fflush(stdout) == 0 && wait_for_end(sfd, o.watch_stdin, mc, o.brokers) == 0)
            rc = 0;
    }
    rd_kafka_mock_cluster_destroy(mc);
out:
    rd_kafka_destroy(rk);
    close(sfd);
    return rc;
}
