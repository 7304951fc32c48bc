/* executor_int: what executor.c and executor_spawn.c share. Not a public API. */
#ifndef GUST_EXECUTOR_INT_H
#define GUST_EXECUTOR_INT_H

#include <sys/types.h>

#include "err.h"
#include "executor/executor.h"

#define DEFAULT_PATH "/bin:/usr/bin" /* glibc's execvp default when PATH is unset */

enum child_stage { STAGE_SETUP = 1, STAGE_CHDIR = 2, STAGE_EXEC = 3 };

/* What the child needs, all prepared by the parent before fork. */
struct spawn {
    char *const *argv;
    char *const *envp;
    char **cands;  /* argv[0] resolved against the PATH of envp, in order */
    char **shargv; /* "/bin/sh", <candidate>, argv[1..]: for ENOEXEC, like execvp */
    const char *cwd;
    int fd_in, fd_out, fd_err, fd_status;
    long max_fd;
    pid_t parent; /* the child checks it is still ours after PR_SET_PDEATHSIG */
};

/* Resolve argv[0] against the PATH of spec's environment and fill sp (free: spawn_clear). */
int spawn_prepare(struct spawn *sp, const struct exec_spec *spec);
void spawn_clear(struct spawn *sp);

/* fork + exec; returns the child's pid or -1. */
pid_t spawn_fork(struct spawn *sp);

/* Wait for the child's verdict on the status pipe: 1 (msg filled) when exec failed, 0 at EOF. */
int read_exec_status(int fd, int msg[2]);

/* mkdir -p of the folders above path. */
int mkdir_parents(const char *path, struct err *e);

#endif
