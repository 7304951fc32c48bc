/* executor_int: what executor.c and executor_spawn.c share. Not a public API. */
#ifndef GUST_EXECUTOR_INT_H
#define GUST_EXECUTOR_INT_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include "err.h"
#include "executor/executor.h"

#define DEFAULT_PATH "/bin:/usr/bin" /* glibc's execvp default when PATH is unset */

enum child_stage { STAGE_SETUP = 1, STAGE_CHDIR = 2, STAGE_EXEC = 3, STAGE_CGROUP = 4 };

/* What the child needs, all prepared by the parent before fork. */
struct spawn {
    char *const *argv;
    char *const *envp;
    char **cands;  /* argv[0] resolved against the PATH of envp, in order */
    char **shargv; /* "/bin/sh", <candidate>, argv[1..]: for ENOEXEC, like execvp */
    const char *cwd;
    int fd_in, fd_out, fd_err, fd_status;
    int fd_cgroup; /* the try's cgroup.procs (the child writes "0" to join it); -1: none */
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

/* ---- executor_cgroup.c: one cgroup v2 per try ---- */

/* Where the tries' cgroups go, and who we are in their names. */
struct cgroups {
    char base[PATH_MAX]; /* <cgroup2 mount><our cgroup>/gust; "" when not in force */
    char what[PATH_MAX + 64];
    pid_t pid;                /* ours */
    unsigned long long start; /* our start time (clock ticks since boot): pid reuse */
    unsigned seq;
};

/* Find the cgroup2 hierarchy and our place in it, make the folder, check that cgroups can be
 * made and killed there; fills cg->what either way. 0 in force, -1 not (process groups
 * only). */
int cgroups_init(struct cgroups *cg);

/* Make a try's cgroup (key may be NULL): its path (malloc'd) in *path, and its cgroup.procs
 * open for writing (CLOEXEC), or -1 with *path NULL. */
int cgroups_create(struct cgroups *cg, const char *key, char **path);

/* SIGKILL everything in the cgroup at path (cgroup.kill). */
void cgroups_kill(const char *path);

/* Whether a process is left in it (cgroup.events; gone counts as empty). */
bool cgroups_populated(const char *path);

/* rmdir it: 0, or -1 (still populated, or another error); a missing one is removed. */
int cgroups_remove(const char *path);

/* Kill and remove the cgroups of other processes (alive or not) with this key; key NULL: of
 * every owner that died. Returns how many were found. */
int cgroups_sweep(struct cgroups *cg, const char *key);

#endif
