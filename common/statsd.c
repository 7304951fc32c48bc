/* statsd: Airflow's StatsD metrics over UDP (see statsd.h).
 *
 * One non-blocking, close-on-exec UDP socket per client; the host is resolved once, when the
 * client is made (as Airflow's statsd client does), so a metric costs one sendto(2) and no
 * lookup. Key invariant: a metric never blocks and never fails its caller. sendto on a
 * non-blocking socket returns at once; whatever it says (EAGAIN: the socket buffer is full,
 * ENETUNREACH, ECONNREFUSED from an earlier datagram's ICMP reply...) the datagram is
 * dropped and counted, never retried. The socket is not connect()ed: Linux then reports no
 * ICMP "port unreachable" back to it, so a collector that is down costs nothing but the
 * datagram.
 *
 * Names follow Airflow's default stat name handler: only [A-Za-z0-9_.-], at most 250
 * characters (the name without the prefix); any other name is dropped (and counted), as
 * Airflow drops it with a log line. The wire format is the plain StatsD line
 * "<prefix>.<name>:<value>|<type>", one metric per datagram. */
#include "statsd.h"

#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#define STATSD_NAME_MAX 250 /* Airflow's stat_name_default_handler max_length */
#define STATSD_PREFIX_MAX 100

struct statsd {
    int fd;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char prefix[STATSD_PREFIX_MAX + 2]; /* "airflow." or "" */
    unsigned long long dropped;         /* updated atomically: loaders may send from threads */
};

/* The first of Airflow's [metrics] name, its deprecated [scheduler] name, gust's name that is
 * set and not empty; NULL when none is. */
static const char *
setting(const char *key)
{
    static const char *const sections[] = {"AIRFLOW__METRICS__", "AIRFLOW__SCHEDULER__", "GUST_"};
    char name[64];

    for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
        const char *v;

        snprintf(name, sizeof(name), "%s%s", sections[i], key);
        if ((v = getenv(name)) != NULL && *v)
            return v;
    }
    return NULL;
}

/* Airflow's getboolean (true/t/1, false/f/0), also yes/no and on/off. */
static int
parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "t", "1", "yes", "y", "on"};
    static const char *const no[] = {"false", "f", "0", "no", "n", "off"};

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        if (strcasecmp(s, yes[i]) == 0 || strcasecmp(s, no[i]) == 0) {
            *out = strcasecmp(s, yes[i]) == 0;
            return 0;
        }
    return -1;
}

/* Whether name (len bytes) is a name Airflow's validator accepts. */
static bool
name_ok(const char *name, size_t len)
{
    if (len == 0 || len > STATSD_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

static int
resolve(struct statsd *s, const char *host, const char *port, struct err *e)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(host, port, &hints, &ai);

    if (rc != 0) {
        err_set(e, ERR_NOTFOUND, "statsd host %s: %s", host,
                rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        if (e)
            e->temporary = rc == EAI_AGAIN;
        return -1;
    }
    s->fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0) {
        err_set(e, ERR_IO, "statsd socket: %s", strerror(errno));
        freeaddrinfo(ai);
        return -1;
    }
    memcpy(&s->addr, ai->ai_addr, ai->ai_addrlen);
    s->addrlen = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}

/* The port setting: a number 1..65535, copied into out. */
static int
port_setting(char out[8], struct err *e)
{
    const char *port = setting("STATSD_PORT");
    char *end;
    long n;

    if (port == NULL)
        port = "8125";
    errno = 0;
    n = strtol(port, &end, 10);
    if (errno || *end || end == port || n < 1 || n > 65535)
        return err_set(e, ERR_USAGE, "statsd port '%s': not a port number (1-65535)", port);
    snprintf(out, 8, "%ld", n);
    return 0;
}

struct statsd *
statsd_from_env(struct err *e)
{
    const char *on = setting("STATSD_ON"), *host = setting("STATSD_HOST");
    const char *prefix = setting("STATSD_PREFIX");
    struct statsd *s;
    bool enabled = false;
    char port[8];

    err_clear(e);
    if (on == NULL)
        return NULL;
    if (parse_bool(on, &enabled) < 0) {
        err_set(e, ERR_USAGE, "statsd_on '%s': not a boolean (true or false)", on);
        return NULL;
    }
    if (!enabled)
        return NULL;
    if (port_setting(port, e) < 0)
        return NULL;
    if (prefix == NULL)
        prefix = "airflow";
    if (strlen(prefix) > STATSD_PREFIX_MAX || (*prefix && !name_ok(prefix, strlen(prefix)))) {
        err_set(e, ERR_USAGE, "statsd prefix '%s': only A-Z a-z 0-9 _ . - and at most %d", prefix,
                STATSD_PREFIX_MAX);
        return NULL;
    }
    if ((s = calloc(1, sizeof(*s))) == NULL) {
        err_set(e, ERR_FAIL, "out of memory");
        return NULL;
    }
    s->fd = -1;
    snprintf(s->prefix, sizeof(s->prefix), "%s%s", prefix, *prefix ? "." : "");
    if (resolve(s, host ? host : "localhost", port, e) < 0) {
        statsd_free(s);
        return NULL;
    }
    return s;
}

static void
drop(struct statsd *s)
{
    __atomic_fetch_add(&s->dropped, 1, __ATOMIC_RELAXED);
}

/* A number as StatsD reads it: an integer without a fraction, else at most 3 decimals
 * ("1.5", not "1.500"). -1 for NaN and infinities, which StatsD cannot read. */
static int
format_number(double v, char *buf, size_t size)
{
    char *p;

    if (!isfinite(v))
        return -1;
    if (v > -1e15 && v < 1e15 && v == (double)(long long)v) {
        snprintf(buf, size, "%lld", (long long)v);
        return 0;
    }
    snprintf(buf, size, "%.3f", v);
    for (p = buf + strlen(buf) - 1; p > buf && *p == '0'; p--)
        *p = '\0';
    if (*p == '.')
        *p = '\0';
    return 0;
}

/* Format the name, check it, send "<prefix><name>:<value>|<type>" (a negative gauge as
 * "0|g" then the value in the same datagram: a sign alone means "change by" to StatsD). */
static void
send_metric(struct statsd *s, const char *value, const char *type, bool negative_gauge,
            const char *fmt, va_list ap)
{
    char name[STATSD_NAME_MAX + 2], line[2 * (sizeof(name) + STATSD_PREFIX_MAX) + 128];
    int n = vsnprintf(name, sizeof(name), fmt, ap);
    int len;

    if (n < 0 || !name_ok(name, (size_t)n)) {
        drop(s);
        return;
    }
    if (negative_gauge)
        len = snprintf(line, sizeof(line), "%s%s:0|g\n%s%s:%s|%s", s->prefix, name, s->prefix, name,
                       value, type);
    else
        len = snprintf(line, sizeof(line), "%s%s:%s|%s", s->prefix, name, value, type);
    if (len < 0 || (size_t)len >= sizeof(line) ||
        sendto(s->fd, line, (size_t)len, MSG_DONTWAIT | MSG_NOSIGNAL,
               (const struct sockaddr *)&s->addr, s->addrlen) != (ssize_t)len)
        drop(s);
}

void
statsd_count(struct statsd *s, long long by, const char *fmt, ...)
{
    char value[32];
    va_list ap;

    if (s == NULL)
        return;
    snprintf(value, sizeof(value), "%lld", by);
    va_start(ap, fmt);
    send_metric(s, value, "c", false, fmt, ap);
    va_end(ap);
}

void
statsd_gauge(struct statsd *s, double v, const char *fmt, ...)
{
    char value[64];
    va_list ap;

    if (s == NULL)
        return;
    if (format_number(v, value, sizeof(value)) < 0) {
        drop(s);
        return;
    }
    va_start(ap, fmt);
    send_metric(s, value, "g", v < 0, fmt, ap);
    va_end(ap);
}

void
statsd_timing(struct statsd *s, double ms, const char *fmt, ...)
{
    char value[64];
    va_list ap;

    if (s == NULL)
        return;
    if (format_number(ms, value, sizeof(value)) < 0) {
        drop(s);
        return;
    }
    va_start(ap, fmt);
    send_metric(s, value, "ms", false, fmt, ap);
    va_end(ap);
}

unsigned long long
statsd_dropped(const struct statsd *s)
{
    return s ? __atomic_load_n(&s->dropped, __ATOMIC_RELAXED) : 0;
}

void
statsd_free(struct statsd *s)
{
    if (s == NULL)
        return;
    if (s->fd >= 0)
        close(s->fd);
    free(s);
}
