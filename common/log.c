/* log: one line per event on stderr, one write(2) per line (see log.h).
 *
 * Key invariant: a line is never split. The whole line is formatted into a stack buffer
 * (cut at 4 KiB, still ending in a newline) and written at once, so concurrent writers to
 * the same file (threads of librdkafka and libcurl, several processes on one log file)
 * interleave whole lines only. */
#include "log.h"

#include "fdio.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static char log_prog[64];
static bool log_timestamps;
static enum log_level log_threshold = LOG_INFO;

int
log_level_parse(const char *s, enum log_level *out)
{
    static const struct {
        const char *name;
        enum log_level level;
    } names[] = {{"error", LOG_ERROR},
                 {"warning", LOG_WARN},
                 {"warn", LOG_WARN},
                 {"info", LOG_INFO},
                 {"debug", LOG_DEBUG}};

    for (size_t i = 0; s && i < sizeof(names) / sizeof(names[0]); i++)
        if (strcasecmp(s, names[i].name) == 0) {
            *out = names[i].level;
            return 0;
        }
    return -1;
}

void
log_open(const char *name, bool timestamps)
{
    const char *slash = name ? strrchr(name, '/') : NULL;
    enum log_level level;

    snprintf(log_prog, sizeof(log_prog), "%s", slash ? slash + 1 : name ? name : "gust");
    log_timestamps = timestamps;
    if (log_level_parse(getenv("GUST_LOG_LEVEL"), &level) == 0)
        log_threshold = level;
}

const char *
log_name(void)
{
    return log_prog[0] ? log_prog : program_invocation_short_name;
}

void
log_set_level(enum log_level level)
{
    log_threshold = level;
}

/* The line's head: "<name>: " or "<UTC time with ms>Z <name> ". Returns its length. */
static size_t
log_head(char *line, size_t size)
{
    struct timespec ts;
    struct tm tm;
    size_t n = 0;
    int m;

    if (!log_timestamps) {
        m = snprintf(line, size, "%s: ", log_name());
    } else {
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        n = strftime(line, size, "%Y-%m-%dT%H:%M:%S", &tm);
        m = snprintf(line + n, size - n, ".%03ldZ %s ", ts.tv_nsec / 1000000, log_name());
    }
    n += m < 0 ? 0 : (size_t)m;
    return n < size - 1 ? n : size - 1;
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
    char line[4096];
    va_list ap;
    int saved = errno;

    if (level > log_threshold)
        return;
    size_t head = log_head(line, sizeof(line));
    va_start(ap, fmt);
    int m = vsnprintf(line + head, sizeof(line) - head - 1, fmt, ap);
    va_end(ap);
    size_t n = head + (m < 0 ? 0 : (size_t)m);
    if (n > sizeof(line) - 2)
        n = sizeof(line) - 2; /* truncated: still one line */
    for (size_t i = head; i < n; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[n++] = '\n';
    fd_write_all(2, line, n);
    errno = saved;
}
