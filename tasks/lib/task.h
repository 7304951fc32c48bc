/* task: the contract every task executable in tasks/ obeys (docs/architecture.md, "Task contract").
 *
 * Exit codes, one log line per event on stderr, flags with environment defaults declared in
 * one table, Kafka properties from -X and KAFKA_*, the XCom result file written atomically,
 * and SIGTERM/SIGINT turned into a flag the main loop checks. */
#ifndef GUST_TASK_H
#define GUST_TASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "err.h"
#include "log.h"

/* Exit codes (docs/architecture.md, "Task contract"): what gust and Airflow do with the try. */
enum task_exit {
    TASK_OK = 0,      /* success */
    TASK_FAIL = 1,    /* failure, retried */
    TASK_SKIP = 99,   /* nothing to do: the task instance becomes skipped */
    TASK_USAGE = 100, /* bad arguments or configuration: permanent, not retried */
    TASK_TEMP = 111,  /* temporary infrastructure error (broker, network, database): retried */
};

/* task_parse() returns this after printing --help; main then exits TASK_OK. */
#define TASK_HELP 1

/* A growable, always NULL-terminated list of owned strings (v[n] == NULL), so v can be passed
 * wherever a "const char *const *" list is expected. {0} is an empty list. */
struct task_list {
    char **v;
    size_t n, cap;
};

/* One command-line flag; declare tables with designated initializers.  The value is the last of:
 * dflt, getenv(env) when set, the flag. *value points into argv, the environment or dflt (never
 * freed). A boolean flag takes no argument ("--follow" sets "1"; "--follow=false" is accepted too).
 * A flag with list != NULL is repeatable and appends each value to *list (value may then be NULL).
 */
struct task_opt {
    const char *flag; /* full spelling: "--topic", "-X" */
    const char *env;  /* environment variable giving the default, or NULL */
    const char *dflt; /* default when neither flag nor env is set, or NULL */
    const char *help; /* one line for --help */
    const char **value;
    bool boolean;
    struct task_list *list;
};

/* Map an error to the exit code: temporary -> 111, ERR_USAGE/ERR_PARSE -> 100, else 1.
 * NULL means success (0); a filled struct whose code is ERR_OK still gives 1, so a failure
 * path that forgot to set e never reports success. */
int task_exit_code(const struct err *e);

/* Set the program name used by task_log (default: the executable's base name); also makes
 * stdout line-buffered. */
void task_set_name(const char *prog);

/* The program name task_log prints. */
const char *task_name(void);

/* Log one line "2026-01-01T00:00:00.123Z <prog> <message>" to stderr with a single write
 * (safe from any thread; newlines in the message become spaces): common/log.h at info. */
#define task_log(...) log_msg(LOG_INFO, __VA_ARGS__)

/* getenv(name) when set and not empty, else dflt. */
const char *task_env(const char *name, const char *dflt);

/* True for "1", "true", "yes", "on" (any case). NULL and anything else are false. */
bool task_is_true(const char *s);

/* Parse argv against opts (terminated by an entry with flag == NULL): fills every value
 * from default, environment and flags. Accepts "--flag value", "--flag=value" and, for
 * one-letter flags, "-Xvalue". Returns 0, TASK_HELP after printing the help to stdout for
 * -h/--help, or -1 with ERR_USAGE (unknown flag, missing value, stray argument). */
int task_parse(int argc, char **argv, struct task_opt *opts, const char *usage, struct err *e);

/* Write the help text (usage line, then each flag with its env name and default) to out. */
void task_usage(FILE *out, const struct task_opt *opts, const char *usage);

/* Parse "90", "90s", "1.5m", "15m", "1h", "1d", "250ms" into seconds (>= 0, finite).
 * Returns 0, or -1 on anything else. */
int task_parse_duration(const char *s, double *seconds);

/* Append a copy of s. Returns 0 or -1 (out of memory, ERR_FAIL). */
int task_list_add(struct task_list *l, const char *s, struct err *e);

/* Free the strings and the array; the list is empty afterwards. */
void task_list_free(struct task_list *l);

/* Build librdkafka properties ("key=value", NULL-terminated in out->v) from the environment
 * and the -X values: every KAFKA_FOO_BAR=v becomes foo.bar=v (sorted by name), except the
 * names in skip_env (NULL-terminated, may be NULL: variables a task uses for its own flags,
 * such as KAFKA_TOPIC); then each -X key=value, which wins over the environment. A -X
 * without '=' is ERR_USAGE. out must be empty or {0}; freed by the caller. */
int task_kafka_props(const struct task_list *x, const char *const *skip_env, struct task_list *out,
                     struct err *e);

/* Write json_text as the task's XCom result to $GUST_XCOM_FILE, else
 * /airflow/xcom/return.json: a temp file in the same folder, fsync, rename, so a reader sees
 * the old file or the whole new one, never half. Creates missing folders. ERR_IO on failure. */
int task_xcom_write(const char *json_text, struct err *e);

/* Route SIGTERM and SIGINT to a flag (no SA_RESTART, so a blocking call returns EINTR);
 * SIGPIPE is ignored. */
void task_signals_init(void);

/* True once SIGTERM or SIGINT arrived: finish or abandon the current unit of work safely. */
bool task_stopping(void);

/* The signal that asked us to stop, or 0. */
int task_stop_signal(void);

#endif
