/* executor: runs task tries as supervised child processes (docs/architecture.md, "Task contract"
 * and "Processes").
 *
 * Each try gets its own session and process group (setsid), stdin from /dev/null, the
 * environment it is given, and pipes for stdout and stderr that the executor copies into
 * the try's log file (up to a cap; keeping the last stdout line for XCom, exactly or not at
 * all). Where the machine delegates a cgroup v2 hierarchy, each try also gets a cgroup of its
 * own (executor_cgroup.c), which holds every descendant, even one that left the session.
 * A try ends when its process exited and both pipes hit EOF; as soon as the process exits,
 * whatever is left of its cgroup (else: of its process group, and any descendant that moved
 * to a session of its own, see executor.c) is killed, so nothing of a task outlives it and
 * no background child keeps the pipes open. A timeout sends SIGTERM to the group, SIGKILL
 * (to the cgroup) after the grace period. Exec failures (no such program) come back through
 * a CLOEXEC pipe and are reported as permanent (or as bash reports them, shell_errors).
 *
 * The executor never blocks and has no loop of its own: the caller's poll() loop asks for
 * its descriptors and its next deadline, then calls executor_process(). SIGCHLD is blocked
 * and read from a signalfd; children are reaped in a loop until waitpid says 0. */
#ifndef GUST_EXECUTOR_H
#define GUST_EXECUTOR_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "err.h"

struct executor;

struct exec_spec {
    char *const *argv;    /* NULL-terminated; argv[0] is looked up in PATH of envp */
    char *const *envp;    /* the child's whole environment, NULL-terminated */
    const char *cwd;      /* NULL: inherit */
    const char *log_path; /* stdout and stderr are appended here; parent folders are created */
    double timeout;       /* seconds of wall time; < 0: none */
    double kill_grace;    /* seconds between SIGTERM and SIGKILL (timeout or terminate) */
    void *data;           /* the caller's pointer, handed back in the result */
    size_t line_max;      /* longest last stdout line kept; 0: EXEC_LINE_MAX_DEFAULT */
    size_t log_max;       /* bytes of output the log takes, then a marker line; 0: no cap */
    const char *key;      /* names the try's cgroup ([0-9a-z], executor_kill_key); NULL: none */
    bool shell_errors;    /* argv stands for a bash -c command run without bash: a program that
                           * cannot be started ends as bash ends then (exit 127 when not found,
                           * 126 when found but not executable, the reason on a log line), not
                           * exec_failed; a file without #! runs with /bin/bash, not /bin/sh */
};

#define EXEC_LINE_MAX_DEFAULT (1024 * 1024)

struct exec_result {
    void *data;
    pid_t pid;
    int exit_code;    /* 0-255 when the process exited, -1 when a signal ended it */
    int term_signal;  /* the signal that ended it, 0 when it exited */
    bool timed_out;   /* ended by the timeout (its group got SIGTERM, maybe SIGKILL) */
    bool exec_failed; /* the program could not be started; exec_error says why */
    char exec_error[256];
    char *last_line;         /* last non-empty stdout line, owned, NULL when none or when it
                              * was longer than line_max; trailing white space stripped */
    size_t last_line_len;    /* its length (also when over line_max); 0: no line */
    size_t log_dropped;      /* output bytes not written to the log (over log_max) */
    struct timespec started; /* CLOCK_REALTIME */
    struct timespec ended;   /* CLOCK_REALTIME */
    double duration;         /* seconds, monotonic */
    int log_errno;           /* first error writing the log (e.g. ENOSPC), 0 when none */
};

/* New executor. Blocks SIGCHLD in the calling thread (the caller must not unblock it; create
 * the executor before any thread). Makes the process a child subreaper, and from then on the
 * executor reaps every child of the process (waitpid(-1)). Sets up the cgroup folder when
 * cgroups can be had, and kills and removes the cgroups dead gust processes left there. */
struct executor *executor_new(struct err *e);

/* How tries are contained: "cgroup v2 (<folder>)" or "process groups (<why no cgroup>)". */
const char *executor_containment(const struct executor *x);

/* What executor_containment would say here, without making an executor (makes the cgroup
 * folder, kills nothing). */
void executor_containment_probe(char *buf, size_t size);

/* SIGKILL what is left of a try another process (maybe dead) started on this host with
 * this key, and remove its cgroup: 1 when something was found, 0 when not (or when tries
 * are contained by process groups only). */
int executor_kill_key(struct executor *x, const char *key);

/* Kill every running try (SIGKILL to each group), reap them, free. NULL is a no-op. */
void executor_free(struct executor *x);

/* Start a try. On success *pid (may be NULL) is its pid (= its process group id). A program
 * that cannot be executed is not an error here: it finishes at once with exec_failed (with
 * shell_errors: with exit code 127 or 126 and a line in its log). */
int executor_start(struct executor *x, const struct exec_spec *spec, pid_t *pid, struct err *e);

/* Number of tries started and not yet returned by executor_next_result. */
size_t executor_active(const struct executor *x);

/* Fill fds (up to max) with the descriptors to poll; returns how many. */
size_t executor_pollfds(const struct executor *x, struct pollfd *fds, size_t max);

/* Milliseconds until the executor's nearest deadline (timeout or kill grace) from now on
 * CLOCK_MONOTONIC, 0 when one has passed, -1 when there is none. For poll()'s timeout. */
int executor_timeout_ms(const struct executor *x);

/* Do the work poll() woke us for: copy output to logs, reap children, enforce deadlines.
 * Safe to call at any time (it never blocks). */
int executor_process(struct executor *x, struct err *e);

/* Take one finished try: returns 1 and fills *out (free with exec_result_clear), 0 if none. */
int executor_next_result(struct executor *x, struct exec_result *out);

/* Free what a result owns. */
void exec_result_clear(struct exec_result *r);

/* Ask one try to stop: SIGTERM to its group now, SIGKILL after its grace. 0, or -1 when no
 * such running try. */
int executor_terminate(struct executor *x, pid_t pid);

/* executor_terminate for every running try. */
void executor_terminate_all(struct executor *x);

#endif
