/* executor_spawn: starting a try's process, the half of the executor that runs around
 * fork(). Everything that allocates (PATH lookup in the try's own environment, the /bin/sh
 * argv for scripts without a #! line, the log's folders) happens in the parent; between fork
 * and exec the child makes only async-signal-safe calls and reports a failure as
 * {stage, errno} on a CLOEXEC status pipe (git's run-command.c does the same). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "executor/executor.h"
#include "fdio.h"
#include "executor_int.h"

/* ---- the child: async-signal-safe calls only from here to exec ---- */

static _Noreturn void
child_fail(int fd, int stage, int errnum)
{
    int msg[2] = {stage, errnum};
    ssize_t n = write(fd, msg, sizeof(msg));

    (void)n;
    _exit(127);
}

static void
child_cloexec_all(const struct spawn *sp)
{
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
        return;
    for (long fd = 3; fd < sp->max_fd; fd++)
        fcntl((int)fd, F_SETFD, FD_CLOEXEC);
}

/* execvpe without its allocations: the candidates were built by the parent. */
static _Noreturn void
child_exec(const struct spawn *sp)
{
    bool eacces = false;
    int err = ENOENT;

    for (size_t i = 0; sp->cands[i] != NULL; i++) {
        execve(sp->cands[i], sp->argv, sp->envp);
        err = errno;
        if (err == ENOEXEC) {
            sp->shargv[1] = sp->cands[i];
            execve(sp->shargv[0], sp->shargv, sp->envp);
            err = errno;
            break;
        }
        if (err == EACCES)
            eacces = true;
        else if (err != ENOENT && err != ENOTDIR && err != ESTALE && err != ENODEV &&
                 err != ETIMEDOUT)
            break;
    }
    if (eacces && (err == ENOENT || err == ENOTDIR))
        err = EACCES;
    child_fail(sp->fd_status, STAGE_EXEC, err);
}

static _Noreturn void
child_run(const struct spawn *sp)
{
    struct sigaction sa = {0};
    sigset_t none;

    sa.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        sigaction(sig, &sa, NULL); /* EINVAL for SIGKILL, SIGSTOP, libc's own: fine */
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* Into the try's cgroup before anything runs: every later descendant starts inside. */
    if (sp->fd_cgroup >= 0 && write(sp->fd_cgroup, "0", 1) != 1)
        child_fail(sp->fd_status, STAGE_CGROUP, errno);
    if (setsid() < 0 || dup2(sp->fd_in, 0) < 0 || dup2(sp->fd_out, 1) < 0 ||
        dup2(sp->fd_err, 2) < 0)
        child_fail(sp->fd_status, STAGE_SETUP, errno);
    /* If gust dies (kill -9), the try dies with it instead of running on unsupervised beside
     * the retry the next scheduler will start. Its own children are caught by the next
     * scheduler on this host, which kills the try's process group before retrying. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != sp->parent)
        child_fail(sp->fd_status, STAGE_SETUP, errno ? errno : ESRCH);
    child_cloexec_all(sp);
    if (sp->cwd != NULL && chdir(sp->cwd) < 0)
        child_fail(sp->fd_status, STAGE_CHDIR, errno);
    child_exec(sp);
}

/* ---- the parent: preparing a spawn ---- */

static void
free_strv(char **v)
{
    if (v == NULL)
        return;
    for (size_t i = 0; v[i] != NULL; i++)
        free(v[i]);
    free(v);
}

static const char *
env_path(char *const *envp)
{
    for (size_t i = 0; envp[i] != NULL; i++)
        if (strncmp(envp[i], "PATH=", 5) == 0)
            return envp[i] + 5;
    return DEFAULT_PATH;
}

/* The paths execvpe would try for file, with the PATH of envp (an empty entry is "."). */
static char **
path_candidates(const char *file, char *const *envp)
{
    const char *path = env_path(envp), *p = path;
    size_t n = 1, k = 0;
    char **v;

    for (const char *c = path; *c; c++)
        n += *c == ':';
    if ((v = calloc(n + 1, sizeof(*v))) == NULL)
        return NULL;
    if (*file == '\0')
        return v; /* nothing to try: ENOENT */
    if (strchr(file, '/') != NULL)
        return (v[0] = strdup(file)) ? v : (free(v), NULL);
    for (;;) {
        size_t len = strcspn(p, ":");
        if (asprintf(&v[k], "%.*s/%s", (int)(len ? len : 1), len ? p : ".", file) < 0) {
            v[k] = NULL;
            free_strv(v);
            return NULL;
        }
        k++;
        if (p[len] == '\0')
            break;
        p += len + 1;
    }
    return v;
}

int
spawn_prepare(struct spawn *sp, const struct exec_spec *spec)
{
    size_t argc = 0;

    while (spec->argv[argc] != NULL)
        argc++;
    sp->argv = spec->argv;
    sp->envp = spec->envp;
    sp->cwd = spec->cwd;
    sp->max_fd = sysconf(_SC_OPEN_MAX);
    if (sp->max_fd < 0 || sp->max_fd > 1L << 20)
        sp->max_fd = 1L << 20;
    sp->cands = path_candidates(spec->argv[0], spec->envp);
    sp->shargv = calloc(argc + 2, sizeof(*sp->shargv));
    if (sp->cands == NULL || sp->shargv == NULL)
        return -1;
    sp->shargv[0] = spec->shell_errors ? "/bin/bash" : "/bin/sh"; /* as bash -c would */
    for (size_t i = 1; i < argc; i++)
        sp->shargv[i + 1] = spec->argv[i];
    return 0;
}

void
spawn_clear(struct spawn *sp)
{
    free_strv(sp->cands);
    free(sp->shargv);
}

/* mkdir -p of the folder path is in. */
int
mkdir_parents(const char *path, struct err *e)
{
    char *dir = strdup(path), *slash;
    int rc = 0;

    if (dir == NULL)
        return err_set(e, ERR_FAIL, "out of memory");
    if ((slash = strrchr(dir, '/')) != NULL && slash > dir) {
        *slash = '\0';
        if (mkdir_p(dir) < 0)
            rc = err_set(e, ERR_IO, "cannot create folder '%s': %s", dir, strerror(errno));
    }
    free(dir);
    return rc;
}

/* Wait for the child's verdict on the status pipe: 1 (msg filled) when it failed, 0 at EOF. */
int
read_exec_status(int fd, int msg[2])
{
    size_t got = 0;

    while (got < 2 * sizeof(int)) {
        ssize_t n = read(fd, (char *)msg + got, 2 * sizeof(int) - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    return got == 2 * sizeof(int);
}

/* vfork + exec; the child's ends of the pipes are closed here. Returns the pid or -1.
 * vfork: the child borrows our memory until it execs or exits, so no page table is copied
 * (fork of a process with libpq, libcurl and OpenSSL mapped was a large part of a try's start,
 * see bench/README.md). That is safe here because the child makes only system calls, never
 * returns from child_run, and runs no signal handler (all blocked, then reset to default). */
pid_t
spawn_fork(struct spawn *sp)
{
    sp->parent = getpid();
    sigset_t all, old;
    pid_t pid;

    /* No handler of ours may run in the child before it resets them. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid = vfork();
    if (pid == 0)
        child_run(sp);
    int saved = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = saved;
    return pid;
}
