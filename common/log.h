/* log: the one log function of both programs (gust and the task executables).
 *
 * One event = one line on stderr, written with a single write(2) so lines from threads
 * (librdkafka, libcurl callbacks) and from processes sharing a log file never interleave;
 * newlines inside a message become spaces. Library modules do not log: they return a struct
 * err and the command, the daemon loop or the task's main decides to log it.
 *
 * Line format: "<prefix>: <message>" for gust (prefix "gust"), or with log_open(name, true)
 * "2026-01-01T00:00:00.123Z <name> <message>" for task executables, whose output gust stores
 * per try. Messages below the threshold are dropped: GUST_LOG_LEVEL=error|warning|info|debug
 * (default info). */
#ifndef GUST_LOG_H
#define GUST_LOG_H

#include <stdbool.h>

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

/* Name the program (its base name is used) and choose the line format; reads GUST_LOG_LEVEL.
 * Optional: without it lines start "<program_invocation_short_name>: ". */
void log_open(const char *name, bool timestamps);

/* The program name lines carry. */
const char *log_name(void);

/* Set the threshold: messages of a higher (more verbose) level are dropped. */
void log_set_level(enum log_level level);

/* Parse "error", "warning"/"warn", "info", "debug". -1 when s is none of them. */
int log_level_parse(const char *s, enum log_level *out);

/* Log one line at level (errno is preserved). */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
