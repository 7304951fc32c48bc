/* executor: task tries as supervised child processes (see executor.h).
 *
 * Spawning follows git's run-command.c: everything that allocates (PATH lookup in the
 * try's own environment, the /bin/sh argv for scripts without a #! line, pipes, the log
 * file) happens in the parent; between fork and exec the child makes only async-signal-safe
 * calls and reports a failure as {stage, errno} on a CLOEXEC status pipe, which the parent
 * reads to EOF before executor_start returns (EOF = exec succeeded).
 *
 * Supervision follows s6-supervise and tmux's job.c: SIGCHLD is read from a signalfd,
 * children are reaped with waitpid(-1, WNOHANG) until it says 0, deadlines are absolute
 * CLOCK_MONOTONIC times, and stopping a try is SIGTERM (+SIGCONT) to its process group, then
 * SIGKILL after the grace.
 *
 * Invariant: a try is finished (queued as a result) only when its main process was reaped,
 * both output pipes hit EOF, its cgroup (else its process group) is empty, and every escaped
 * process we killed has been reaped. To make that terminate, the moment the main process is
 * reaped the rest of its cgroup and group gets SIGKILL (a background child holding stdout
 * would otherwise keep the try alive forever, and nothing of a task may outlive it). With a
 * cgroup per try (executor_cgroup.c) that is all: it holds every descendant. Without one,
 * processes that left the group with setsid() are caught because gust is a child subreaper:
 * when their parent dies they become our children; each time we reap anything we look for
 * children of ours that sit in a session that is neither ours nor a running try's, and
 * SIGKILL them and their group.
 *
 * The last stdout line (for XCom) is kept up to spec->line_max bytes; a longer one is known
 * by its length only, never cut. The log takes spec->log_max bytes of output, then a marker.
 *
 * Limitations, by design or by the kernel:
 * - Without cgroups we cannot tell which try a setsid()ed orphan came from. If a still-running
 *   try daemonizes something (setsid + its parent exits), that daemon is killed the next time
 *   any process is reaped, not when its own try ends; and one that outlives a gust killed
 *   with kill -9 runs on. Daemons are outside the task contract.
 * - A process that escapes the subreaper (it is given away over a socket, or runs setuid so
 *   we may not signal it) can keep a pipe open: EXEC_DRAIN_SECONDS after the main process was
 *   reaped the try is finished anyway and its pipes closed.
 * - waitpid(-1) reaps every child of the process: the executor owns all of them (unknown
 *   pids are reaped and ignored). Processes in gust's own session are never killed.
 * - SIGCHLD must be blocked in every thread (create the executor before any thread), or the
 *   kernel may deliver it elsewhere and the signalfd stays silent. */
#include "executor/executor.h"
#include "executor_int.h"
#include "clock.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define READ_CHUNK (64 * 1024) /* one read() from a pipe */
#define READS_PER_PIPE 16      /* per pipe per executor_process: 1 MiB, then yield */
#define EXEC_DRAIN_SECONDS 2.0 /* after the main process exits, wait this long at most */

#define NO_DEADLINE (-1.0)

/* The current stdout line and the last complete non-empty one: their first max bytes (the
 * buffers grow as needed), and their lengths up to the last byte that is not white space.
 * A line longer than max is known by its length only: an XCom is exact or not pushed. */
struct line_track {
    char *cur, *last;
    size_t cap_cur, cap_last;
    size_t ncur;     /* bytes of the current line so far */
    size_t cur_len;  /* of which up to its last non-white-space byte */
    size_t last_len; /* the last line's length (stripped); 0: none yet */
    size_t max;
    bool off; /* out of memory once: the line is not known (the push will fail) */
};

/* One try: its process, pipes, log and deadlines. */
struct job {
    struct job *next;
    struct exec_result res;
    double t0;         /* monotonic start */
    double timeout_at; /* monotonic; NO_DEADLINE when none or already fired */
    double kill_at;    /* SIGKILL due (after SIGTERM) */
    double drain_at;   /* set when reaped: finish by then whatever holds the pipes */
    double kill_grace;
    int fd[2]; /* stdout, stderr read ends; -1 at EOF */
    int log_fd;
    bool reaped;
    struct line_track line;
    size_t log_max, log_written; /* the log's cap (0: none) and the output bytes it took */
    char log_last;               /* the last byte written to it */
    char *cg_path;               /* the try's cgroup; NULL: its process group only */
};

struct executor {
    int sigfd;
    int devnull;
    pid_t sid;  /* our session: never touched by the escapee sweep */
    pid_t pgid; /* our process group */
    bool unblock_on_free;
    struct job *running;           /* started, not finished */
    struct job *done, **done_tail; /* finished, FIFO */
    size_t nrunning, ndone;
    pid_t *doomed; /* escapees we SIGKILLed and have not reaped yet */
    size_t ndoomed, doomed_cap;
    char *buf; /* READ_CHUNK */
    struct cgroups cg;
};

static bool
has_deadline(double d)
{
    return d >= 0;
}

static void
close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Move fd to a number >= 3 (CLOEXEC), so dup2 onto 0-2 in the child cannot clobber it. */
static int
fd_above_stdio(int fd)
{
    int moved;

    if (fd < 0 || fd > 2)
        return fd;
    moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    close(fd);
    return moved;
}

static int
pipe_above_stdio(int p[2])
{
    if (pipe2(p, O_CLOEXEC) < 0)
        return -1;
    p[0] = fd_above_stdio(p[0]);
    p[1] = fd_above_stdio(p[1]);
    if (p[0] < 0 || p[1] < 0) {
        close_fd(&p[0]);
        close_fd(&p[1]);
        return -1;
    }
    return 0;
}

/* ---- tries ---- */

static struct job *
job_new(const struct exec_spec *spec)
{
    struct job *t = calloc(1, sizeof(*t));

    if (t == NULL)
        return NULL;
    t->fd[0] = t->fd[1] = t->log_fd = -1;
    t->res.data = spec->data;
    t->res.exit_code = -1;
    t->kill_grace = spec->kill_grace > 0 ? spec->kill_grace : 0;
    t->line.max = spec->line_max > 0 ? spec->line_max : EXEC_LINE_MAX_DEFAULT;
    t->log_max = spec->log_max;
    t->log_last = '\n';
    t->kill_at = t->drain_at = NO_DEADLINE;
    t->t0 = clock_mono();
    t->timeout_at = spec->timeout >= 0 ? t->t0 + spec->timeout : NO_DEADLINE;
    clock_gettime(CLOCK_REALTIME, &t->res.started);
    return t;
}

static void
job_free(struct job *t)
{
    if (t == NULL)
        return;
    close_fd(&t->fd[0]);
    close_fd(&t->fd[1]);
    close_fd(&t->log_fd);
    free(t->line.cur);
    free(t->line.last);
    free(t->res.last_line);
    if (t->cg_path != NULL) { /* not finished (executor_free): nothing of it may stay */
        cgroups_kill(t->cg_path);
        cgroups_remove(t->cg_path);
        free(t->cg_path);
    }
    free(t);
}

static void
job_mark_ended(struct job *t)
{
    clock_gettime(CLOCK_REALTIME, &t->res.ended);
    t->res.duration = clock_mono() - t->t0;
}

static void
queue_done(struct executor *x, struct job *t)
{
    t->next = NULL;
    *x->done_tail = t;
    x->done_tail = &t->next;
    x->ndone++;
}

static void
unlink_running(struct executor *x, struct job *t)
{
    for (struct job **p = &x->running; *p != NULL; p = &(*p)->next)
        if (*p == t) {
            *p = t->next;
            x->nrunning--;
            return;
        }
}

static void
set_status(struct job *t, int status)
{
    if (WIFEXITED(status)) {
        t->res.exit_code = WEXITSTATUS(status);
        t->res.term_signal = 0;
    } else if (WIFSIGNALED(status)) {
        t->res.exit_code = -1;
        t->res.term_signal = WTERMSIG(status);
    }
}

static void
describe_failure(struct job *t, const struct exec_spec *spec, const int msg[2])
{
    const char *why = strerror(msg[1]);

    t->res.exec_failed = true;
    if (msg[0] == STAGE_CHDIR)
        snprintf(t->res.exec_error, sizeof(t->res.exec_error), "cannot chdir to '%s': %s",
                 spec->cwd, why);
    else if (msg[0] == STAGE_SETUP)
        snprintf(t->res.exec_error, sizeof(t->res.exec_error),
                 "cannot set up the process for '%s': %s", spec->argv[0], why);
    else
        snprintf(t->res.exec_error, sizeof(t->res.exec_error), "cannot execute '%s': %s",
                 spec->argv[0], why);
}

/* A direct bash_command's program could not be started: end as bash -c would, with 127
 * when there is no such program, 126 when there is one that cannot run, and bash's words for
 * it on a line of the log. */
static void
shell_failure(struct job *t, const struct exec_spec *spec, int errnum)
{
    const char *cmd = spec->argv[0];
    bool missing = errnum == ENOENT || errnum == ENOTDIR;
    char line[PATH_MAX + 128];
    int n;

    t->res.exit_code = missing ? 127 : 126;
    t->res.term_signal = 0;
    if (missing && strchr(cmd, '/') == NULL)
        n = snprintf(line, sizeof(line), "[gust] %.*s: command not found\n", PATH_MAX, cmd);
    else
        n = snprintf(line, sizeof(line), "[gust] %.*s: %s\n", PATH_MAX, cmd, strerror(errnum));
    if (n > 0 && t->log_fd >= 0) {
        ssize_t w = write(t->log_fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line));
        (void)w;
    }
}

static int
open_log(struct job *t, const char *path, struct err *e)
{
    if (mkdir_parents(path, e) < 0)
        return err_prefix(e, "log '%s'", path);
    t->log_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (t->log_fd < 0)
        return err_set(e, ERR_IO, "cannot open log '%s': %s", path, strerror(errno));
    return 0;
}

/* Fork the child with pipes in place (and into a cgroup of its own when contain and cgroups
 * are in force); on success t->res.pid and t->fd are set, and msg tells whether exec failed. */
static int
launch(struct executor *x, struct job *t, const struct exec_spec *spec, bool contain, int msg[2],
       struct err *e)
{
    int out[2] = {-1, -1}, errp[2] = {-1, -1}, status[2] = {-1, -1}, rc = -1, cgfd = -1;
    struct spawn sp = {0};

    if (pipe_above_stdio(out) < 0 || pipe_above_stdio(errp) < 0 || pipe_above_stdio(status) < 0) {
        err_set(e, ERR_IO, "pipe: %s", strerror(errno));
        goto out_temporary;
    }
    if (spawn_prepare(&sp, spec) < 0) {
        err_set(e, ERR_FAIL, "out of memory");
        goto out;
    }
    sp.fd_in = x->devnull;
    sp.fd_out = out[1];
    sp.fd_err = errp[1];
    sp.fd_status = status[1];
    if (contain && x->cg.base[0] != '\0')
        cgfd = cgroups_create(&x->cg, spec->key, &t->cg_path); /* -1: process group only */
    sp.fd_cgroup = cgfd;
    t->res.pid = spawn_fork(&sp);
    close_fd(&cgfd);
    if (t->res.pid < 0) {
        err_set(e, ERR_FAIL, "fork: %s", strerror(errno));
        goto out_temporary;
    }
    close_fd(&status[1]);
    if (!read_exec_status(status[0], msg))
        msg[0] = 0; /* EOF: exec succeeded */
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    fcntl(errp[0], F_SETFL, O_NONBLOCK);
    t->fd[0] = out[0];
    t->fd[1] = errp[0];
    out[0] = errp[0] = -1;
    rc = 0;
    goto out;
out_temporary:
    if (e != NULL)
        e->temporary = true; /* out of descriptors or processes: may pass */
out:
    spawn_clear(&sp);
    close_fd(&out[0]);
    close_fd(&out[1]);
    close_fd(&errp[0]);
    close_fd(&errp[1]);
    close_fd(&status[0]);
    close_fd(&status[1]);
    return rc;
}

/* The child could not join its cgroup: reap it, and start the try again in its process
 * group only (containment is a safeguard, not a reason for the task to fail). */
static int
relaunch_uncontained(struct executor *x, struct job *t, const struct exec_spec *spec, int msg[2],
                     struct err *e)
{
    int status;

    while (waitpid(t->res.pid, &status, 0) < 0 && errno == EINTR)
        ;
    cgroups_remove(t->cg_path);
    free(t->cg_path);
    t->cg_path = NULL;
    close_fd(&t->fd[0]);
    close_fd(&t->fd[1]);
    msg[0] = msg[1] = 0;
    return launch(x, t, spec, false, msg, e);
}

/* Start a try (see executor.h). */
int
executor_start(struct executor *x, const struct exec_spec *spec, pid_t *pid, struct err *e)
{
    int msg[2] = {0, 0}, status;
    struct job *t;

    if (spec == NULL || spec->argv == NULL || spec->argv[0] == NULL || spec->envp == NULL ||
        spec->log_path == NULL)
        return err_set(e, ERR_USAGE, "executor_start: argv, envp and log_path are required");
    if ((t = job_new(spec)) == NULL)
        return err_set(e, ERR_FAIL, "out of memory");
    if (open_log(t, spec->log_path, e) < 0 || launch(x, t, spec, true, msg, e) < 0 ||
        (msg[0] == STAGE_CGROUP && relaunch_uncontained(x, t, spec, msg, e) < 0)) {
        job_free(t);
        return -1;
    }
    if (pid != NULL)
        *pid = t->res.pid;
    if (msg[0] != 0) {
        /* The child _exits right after writing: this wait is short. */
        while (waitpid(t->res.pid, &status, 0) < 0 && errno == EINTR)
            ;
        set_status(t, status);
        if (spec->shell_errors && msg[0] == STAGE_EXEC)
            shell_failure(t, spec, msg[1]);
        else
            describe_failure(t, spec, msg);
        job_mark_ended(t);
        close_fd(&t->fd[0]);
        close_fd(&t->fd[1]);
        close_fd(&t->log_fd);
        queue_done(x, t);
        return 0;
    }
    t->next = x->running;
    x->running = t;
    x->nrunning++;
    return 0;
}

/* ---- output ---- */

static void
write_all(struct job *t, const char *p, size_t n)
{
    while (n > 0 && t->res.log_errno == 0) {
        ssize_t w = write(t->log_fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            t->res.log_errno = errno;
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

/* Append output to the log, up to its cap; the rest is counted in log_dropped. */
static void
log_write(struct job *t, const char *p, size_t n)
{
    if (t->log_max > 0 && n > t->log_max - t->log_written) {
        t->res.log_dropped += n - (t->log_max - t->log_written);
        n = t->log_max - t->log_written;
    }
    if (n == 0)
        return;
    t->log_written += n;
    t->log_last = p[n - 1];
    write_all(t, p, n);
}

/* The one line that says the log was cut, at its end. */
static void
log_mark_dropped(struct job *t)
{
    char mark[160];
    int n;

    if (t->res.log_dropped == 0 || t->log_fd < 0)
        return;
    n = snprintf(mark, sizeof(mark),
                 "%s[gust] log truncated at %zu bytes; %zu more bytes dropped\n",
                 t->log_last == '\n' ? "" : "\n", t->log_written, t->res.log_dropped);
    write_all(t, mark, (size_t)n);
}

/* Python's str.isspace for ASCII, without '\n' (it ends lines) and without NUL. */
static bool
is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Make room for size bytes in the current line's buffer (size <= max). */
static int
line_reserve(struct line_track *l, size_t size)
{
    size_t cap = l->cap_cur ? l->cap_cur : 256;
    char *p;

    if (size <= l->cap_cur)
        return 0;
    while (cap < size)
        cap *= 2;
    if (cap > l->max)
        cap = l->max;
    if ((p = realloc(l->cur, cap)) == NULL)
        return -1;
    l->cur = p;
    l->cap_cur = cap;
    return 0;
}

/* Append p[0..n) to the current line: its first max bytes are kept, its length counted. */
static void
line_append(struct line_track *l, const char *p, size_t n)
{
    size_t keep = l->ncur < l->max ? l->max - l->ncur : 0;

    if (keep > n)
        keep = n;
    if (keep > 0 && !l->off && line_reserve(l, l->ncur + keep) < 0)
        l->off = true;
    if (keep > 0 && !l->off)
        memcpy(l->cur + l->ncur, p, keep);
    for (size_t i = n; i > 0; i--)
        if (!is_blank(p[i - 1])) {
            l->cur_len = l->ncur + i;
            break;
        }
    l->ncur += n;
}

/* End the current line: trailing white space goes (Airflow rstrips); non-empty lines win. */
static void
line_end(struct line_track *l)
{
    if (l->cur_len > 0) {
        char *swap = l->last;
        size_t cap = l->cap_last;
        l->last = l->cur;
        l->cap_last = l->cap_cur;
        l->last_len = l->cur_len;
        l->cur = swap;
        l->cap_cur = cap;
    }
    l->ncur = l->cur_len = 0;
}

static void
line_feed(struct line_track *l, const char *p, size_t n)
{
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t len = nl ? (size_t)(nl - p) : n;
        line_append(l, p, len);
        if (nl == NULL)
            return;
        line_end(l);
        p += len + 1;
        n -= len + 1;
    }
}

/* The result's last line: exact, or NULL with its length when it was over max (or lost). */
static void
line_result(struct job *t)
{
    struct line_track *l = &t->line;

    t->res.last_line_len = l->last_len;
    if (l->last_len > 0 && l->last_len <= l->max && !l->off &&
        (t->res.last_line = malloc(l->last_len + 1)) != NULL) {
        memcpy(t->res.last_line, l->last, l->last_len);
        t->res.last_line[l->last_len] = '\0';
    }
    free(l->cur);
    free(l->last);
    l->cur = l->last = NULL;
    l->cap_cur = l->cap_last = 0;
}

/* Copy what is available on pipe k (0 stdout, 1 stderr) to the log; close it at EOF. */
static void
drain_pipe(struct executor *x, struct job *t, int k)
{
    for (int i = 0; i < READS_PER_PIPE && t->fd[k] >= 0; i++) {
        ssize_t n = read(t->fd[k], x->buf, READ_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) { /* EOF, or an error we treat as one */
            close_fd(&t->fd[k]);
            if (k == 0)
                line_end(&t->line);
            return;
        }
        log_write(t, x->buf, (size_t)n);
        if (k == 0)
            line_feed(&t->line, x->buf, (size_t)n);
        if (n < READ_CHUNK)
            return;
    }
}

/* ---- reaping, killing ---- */

static struct job *
find_running(const struct executor *x, pid_t pid)
{
    for (struct job *t = x->running; t != NULL; t = t->next)
        if (t->res.pid == pid)
            return t;
    return NULL;
}

static void
forget_doomed(struct executor *x, pid_t pid)
{
    for (size_t i = 0; i < x->ndoomed; i++)
        if (x->doomed[i] == pid) {
            x->doomed[i] = x->doomed[--x->ndoomed];
            return;
        }
}

static void
add_doomed(struct executor *x, pid_t pid)
{
    for (size_t i = 0; i < x->ndoomed; i++)
        if (x->doomed[i] == pid)
            return;
    if (x->ndoomed == x->doomed_cap) {
        size_t cap = x->doomed_cap ? 2 * x->doomed_cap : 16;
        pid_t *p = realloc(x->doomed, cap * sizeof(*p));
        if (p == NULL)
            return; /* only the wait for it is lost: it was killed anyway */
        x->doomed = p;
        x->doomed_cap = cap;
    }
    x->doomed[x->ndoomed++] = pid;
}

static void
on_reaped(struct job *t, int status)
{
    set_status(t, status);
    t->reaped = true;
    job_mark_ended(t);
    /* The rest of the try must not outlive it (nor hold its pipes open). */
    kill(-t->res.pid, SIGKILL);
    if (t->cg_path != NULL)
        cgroups_kill(t->cg_path);
    t->timeout_at = t->kill_at = NO_DEADLINE;
    t->drain_at = clock_mono() + EXEC_DRAIN_SECONDS;
}

/* waitpid until it says 0 (or ECHILD); returns whether anything was reaped. */
static bool
reap_all(struct executor *x)
{
    bool any = false;
    int status;
    pid_t pid;

    for (;;) {
        pid = waitpid(-1, &status, WNOHANG);
        if (pid < 0 && errno == EINTR)
            continue;
        if (pid <= 0)
            return any;
        any = true;
        struct job *t = find_running(x, pid);
        if (t != NULL && !t->reaped)
            on_reaped(t, status);
        else
            forget_doomed(x, pid);
    }
}

/* A live main process has its session id = its pid. */
static bool
is_live_try_session(const struct executor *x, pid_t sid)
{
    struct job *t = find_running(x, sid);

    return t != NULL && !t->reaped;
}

/* Read ppid, pgrp, session and state of pid from /proc; 0 or -1. */
static int
proc_stat(pid_t pid, pid_t *ppid, pid_t *pgrp, pid_t *sid, char *state)
{
    char path[64], buf[512];
    int fd, p, g, s;
    ssize_t n;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return -1;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *rp = strrchr(buf, ')'); /* the command name may hold anything */
    if (rp == NULL || sscanf(rp + 1, " %c %d %d %d", state, &p, &g, &s) != 4)
        return -1;
    *ppid = p;
    *pgrp = g;
    *sid = s;
    return 0;
}

/* SIGKILL pid when it is a child of ours that left its try's session (it reached us as an
 * orphan because we are a subreaper): see "Limitations" at the top. */
static void
kill_escapee(struct executor *x, pid_t pid)
{
    pid_t ppid, pgrp, sid;
    char state;

    if (pid <= 0 || proc_stat(pid, &ppid, &pgrp, &sid, &state) < 0)
        return;
    if (ppid != getpid() || state == 'Z' || sid == x->sid || is_live_try_session(x, sid))
        return;
    if (find_running(x, pid) != NULL)
        return;
    kill(pid, SIGKILL);
    if (pgrp != x->pgid)
        kill(-pgrp, SIGKILL);
    add_doomed(x, pid);
}

/* Our children from /proc/self/task/TID/children (the kernel's list: a handful of entries,
 * where a scan of /proc reads every process of the machine on every reap). 0, or -1 when
 * the kernel has no such file (CONFIG_PROC_CHILDREN). */
static int
kill_escapees_children(struct executor *x)
{
    char path[64], buf[4096], *p, *end;
    size_t have = 0;
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int)getpid());
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return -1;
    /* pids separated by spaces; a pid cut at the end of the buffer is kept for the next read */
    while ((n = read(fd, buf + have, sizeof(buf) - 1 - have)) > 0) {
        have += (size_t)n;
        buf[have] = '\0';
        for (p = buf;; p = end) {
            long pid = strtol(p, &end, 10);

            if (end == p || *end == '\0')
                break;
            kill_escapee(x, (pid_t)pid);
        }
        have = strlen(p);
        memmove(buf, p, have + 1);
    }
    close(fd);
    if (have > 0)
        kill_escapee(x, (pid_t)strtol(buf, NULL, 10));
    return 0;
}

/* SIGKILL children of ours that left their try's session. */
static void
kill_escapees(struct executor *x)
{
    struct dirent *de;
    DIR *d;

    if (kill_escapees_children(x) == 0)
        return;
    if ((d = opendir("/proc")) == NULL)
        return;
    while ((de = readdir(d)) != NULL) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);

        if (*end == '\0')
            kill_escapee(x, (pid_t)pid);
    }
    closedir(d);
}

/* SIGTERM (and SIGCONT, so a stopped group sees it) now, SIGKILL after the grace. */
static void
term_group(struct job *t, double now)
{
    double at = now + t->kill_grace;

    kill(-t->res.pid, SIGTERM);
    kill(-t->res.pid, SIGCONT);
    if (!has_deadline(t->kill_at) || at < t->kill_at)
        t->kill_at = at;
}

static void
enforce_deadlines(struct job *t, double now)
{
    if (t->reaped)
        return;
    if (has_deadline(t->timeout_at) && now >= t->timeout_at) {
        t->timeout_at = NO_DEADLINE;
        t->res.timed_out = true;
        term_group(t, now);
    }
    if (has_deadline(t->kill_at) && now >= t->kill_at) {
        t->kill_at = NO_DEADLINE;
        kill(-t->res.pid, SIGKILL);
        if (t->cg_path != NULL)
            cgroups_kill(t->cg_path);
    }
}

/* Nothing of the try runs any more: its cgroup is empty, else its process group is gone. */
static bool
try_gone(const struct job *t)
{
    if (t->cg_path != NULL)
        return !cgroups_populated(t->cg_path);
    return kill(-t->res.pid, 0) < 0 && errno == ESRCH;
}

/* Move t to the results if it is over (see the invariant at the top). */
static void
maybe_finish(struct executor *x, struct job *t, double now)
{
    if (!t->reaped)
        return;
    bool gone = try_gone(t);
    if (gone && t->cg_path != NULL)
        reap_all(x); /* its processes have exited; those orphaned are our zombies: reap them
                      * now, or a gust that exits next leaves them to init (seen in CI: a
                      * killed background child still answering kill -0) */
    bool over = t->fd[0] < 0 && t->fd[1] < 0 && x->ndoomed == 0 && gone;
    if (!over && now < t->drain_at)
        return;
    close_fd(&t->fd[0]);
    close_fd(&t->fd[1]);
    log_mark_dropped(t);
    close_fd(&t->log_fd);
    line_result(t);
    if (t->cg_path != NULL) {
        if (!gone) /* past the drain deadline something is still there */
            cgroups_kill(t->cg_path);
        cgroups_remove(t->cg_path);
        free(t->cg_path);
        t->cg_path = NULL;
    }
    unlink_running(x, t);
    queue_done(x, t);
}

static void
drain_signalfd(struct executor *x)
{
    struct signalfd_siginfo si[16];

    while (read(x->sigfd, si, sizeof(si)) > 0)
        ;
}

/* Whether a running try has no cgroup: then orphans that left its session are found by the
 * escapee sweep (a try's cgroup holds its own, and they die with it). */
static bool
any_uncontained(const struct executor *x)
{
    for (const struct job *t = x->running; t != NULL; t = t->next)
        if (t->cg_path == NULL)
            return true;
    return false;
}

/* Do the work poll() woke us for (see executor.h). */
int
executor_process(struct executor *x, struct err *e)
{
    struct job *t, *next;
    double now;

    (void)e; /* nothing here fails: pipe errors end a pipe, log errors land in the result */
    drain_signalfd(x);
    if (reap_all(x) && any_uncontained(x))
        kill_escapees(x);
    for (t = x->running; t != NULL; t = t->next) {
        drain_pipe(x, t, 0);
        drain_pipe(x, t, 1);
    }
    now = clock_mono();
    for (t = x->running; t != NULL; t = next) {
        next = t->next;
        enforce_deadlines(t, now);
        maybe_finish(x, t, now);
    }
    return 0;
}

/* ---- the rest of the API ---- */

/* New executor: SIGCHLD blocked and read from a signalfd, gust made a child subreaper. */
struct executor *
executor_new(struct err *e)
{
    struct executor *x = calloc(1, sizeof(*x));
    sigset_t mask, old;

    if (x == NULL || (x->buf = malloc(READ_CHUNK)) == NULL) {
        free(x);
        err_set(e, ERR_FAIL, "out of memory");
        return NULL;
    }
    x->sigfd = x->devnull = -1;
    x->done_tail = &x->done;
    x->sid = getsid(0);
    x->pgid = getpgrp();
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &mask, &old);
    x->unblock_on_free = !sigismember(&old, SIGCHLD);
    x->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    x->devnull = fd_above_stdio(open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (x->sigfd < 0 || x->devnull < 0) {
        err_set(e, ERR_FAIL, "executor: %s: %s", x->sigfd < 0 ? "signalfd" : "/dev/null",
                strerror(errno));
        executor_free(x);
        return NULL;
    }
    /* Orphans of our tries (setsid()ed grandchildren) become ours, so we can kill them.
     * Failure only weakens that guarantee. */
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    if (cgroups_init(&x->cg) == 0)   /* else process groups only, x->cg.what says why */
        cgroups_sweep(&x->cg, NULL); /* what dead gust processes left */
    return x;
}

/* SIGKILL every group, then let executor_process reap and drain for a few seconds. */
static void
kill_and_wait(struct executor *x)
{
    struct pollfd fds[1];
    double end = clock_mono() + 5.0;

    for (struct job *t = x->running; t != NULL; t = t->next)
        if (!t->reaped) {
            kill(-t->res.pid, SIGKILL);
            if (t->cg_path != NULL)
                cgroups_kill(t->cg_path);
            t->timeout_at = t->kill_at = NO_DEADLINE;
        }
    while (x->running != NULL) {
        double now = clock_mono();
        executor_process(x, NULL);
        if (x->running == NULL || now >= end)
            break;
        fds[0] = (struct pollfd){.fd = x->sigfd, .events = POLLIN};
        poll(fds, 1, 10); /* SIGCHLD, or 10 ms to re-check pipes and the group */
    }
}

/* Kill every running try, reap them, free (see executor.h). */
void
executor_free(struct executor *x)
{
    struct job *t, *next;
    sigset_t mask;

    if (x == NULL)
        return;
    if (x->sigfd >= 0)
        kill_and_wait(x);
    for (t = x->running; t != NULL; t = next) {
        next = t->next;
        job_free(t);
    }
    for (t = x->done; t != NULL; t = next) {
        next = t->next;
        job_free(t);
    }
    close_fd(&x->sigfd);
    close_fd(&x->devnull);
    if (x->unblock_on_free) {
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        pthread_sigmask(SIG_UNBLOCK, &mask, NULL);
    }
    free(x->doomed);
    free(x->buf);
    free(x);
}

/* Tries started and not yet handed out. */
size_t
executor_active(const struct executor *x)
{
    return x->nrunning + x->ndone;
}

/* The signalfd, then each running try's open pipes. */
size_t
executor_pollfds(const struct executor *x, struct pollfd *fds, size_t max)
{
    size_t n = 0;

    if (n < max)
        fds[n++] = (struct pollfd){.fd = x->sigfd, .events = POLLIN};
    for (const struct job *t = x->running; t != NULL; t = t->next)
        for (int k = 0; k < 2; k++)
            if (t->fd[k] >= 0 && n < max)
                fds[n++] = (struct pollfd){.fd = t->fd[k], .events = POLLIN};
    return n;
}

/* Milliseconds to the nearest deadline; 0 when results wait to be taken. */
int
executor_timeout_ms(const struct executor *x)
{
    double best = NO_DEADLINE, now, ms;

    if (x->ndone > 0)
        return 0;
    for (const struct job *t = x->running; t != NULL; t = t->next) {
        double d[3] = {t->timeout_at, t->kill_at, t->drain_at};
        for (int i = 0; i < 3; i++)
            if (has_deadline(d[i]) && (!has_deadline(best) || d[i] < best))
                best = d[i];
    }
    if (!has_deadline(best))
        return -1;
    now = clock_mono();
    if (best <= now)
        return 0;
    ms = ceil((best - now) * 1000.0);
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* Hand out the oldest finished try. */
int
executor_next_result(struct executor *x, struct exec_result *out)
{
    struct job *t = x->done;

    if (t == NULL)
        return 0;
    x->done = t->next;
    if (x->done == NULL)
        x->done_tail = &x->done;
    x->ndone--;
    *out = t->res;
    t->res.last_line = NULL; /* now the caller's */
    job_free(t);
    return 1;
}

/* Free what a result owns. */
void
exec_result_clear(struct exec_result *r)
{
    if (r == NULL)
        return;
    free(r->last_line);
    r->last_line = NULL;
}

/* SIGTERM to the try's group, SIGKILL after its grace (not marked timed_out). */
int
executor_terminate(struct executor *x, pid_t pid)
{
    struct job *t = find_running(x, pid);

    if (t == NULL)
        return -1;
    if (!t->reaped) {
        t->timeout_at = NO_DEADLINE;
        term_group(t, clock_mono());
    }
    return 0;
}

/* executor_terminate for every running try. */
void
executor_terminate_all(struct executor *x)
{
    for (struct job *t = x->running; t != NULL; t = t->next)
        executor_terminate(x, t->res.pid);
}

/* How tries are contained (see executor.h). */
const char *
executor_containment(const struct executor *x)
{
    return x->cg.what;
}

/* executor_containment without an executor. */
void
executor_containment_probe(char *buf, size_t size)
{
    struct cgroups cg = {0};

    cgroups_init(&cg);
    snprintf(buf, size, "%s", cg.what);
}

/* Kill the leftovers of another process's try with this key (see executor.h). */
int
executor_kill_key(struct executor *x, const char *key)
{
    if (key == NULL || *key == '\0')
        return 0;
    return cgroups_sweep(&x->cg, key) > 0;
}
