/* executor_cgroup: one cgroup v2 per try, where the machine lets us have one.
 *
 * A process group cannot hold a task's descendant that called setsid(), and PR_SET_PDEATHSIG
 * reaches only the try's main process: when gust dies with kill -9, such a descendant would
 * run on beside the retry. A cgroup holds every descendant whatever it does with sessions,
 * survives the death of gust, and is killed whole with one write to cgroup.kill (Linux 5.14).
 *
 * Layout: <cgroup2 mount><gust's own cgroup>/gust/<pid>.<start>.<seq>.<key>, where pid and
 * start (clock ticks since boot, against pid reuse) name the gust process that made it, seq
 * counts its tries and key is the caller's name for the try (the runner hashes the database,
 * DAG, run, task and try number into it; "x" when none). So a cgroup whose owner died is
 * recognised by any later gust (cgroups_sweep(NULL), at start), and a try whose lease expired
 * is found by its key even after its owner died (cgroups_sweep(key), at takeover).
 *
 * Invariant: a try's cgroup holds that try's processes only; it is removed once empty. The
 * child joins it between fork and exec by writing "0" to its cgroup.procs (executor_spawn.c),
 * so every process the task ever makes starts inside. Where any of this is unavailable (no
 * cgroup2 mount, not root or not delegated, a kernel without cgroup.kill) the executor falls
 * back to process groups and says so (cgroups.what). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "executor/executor.h"
#include "executor_int.h"

#define SWEEP_WAIT_SECONDS 2.0 /* for a killed cgroup to empty before its rmdir */

/* Read a small file into buf (NUL-terminated); its length or -1. */
static ssize_t
read_small(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0)
        return -1;
    n = read(fd, buf, size - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return n;
}

/* Field 22 of /proc/<pid>/stat, the start time; 0 when there is no such process. */
static unsigned long long
proc_start(pid_t pid)
{
    char path[64], buf[1024];
    unsigned long long start = 0;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if (read_small(path, buf, sizeof(buf)) <= 0)
        return 0;
    char *p = strrchr(buf, ')'); /* the command name may hold anything */
    if (p == NULL ||
        sscanf(p + 1,
               " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d "
               "%*d %llu",
               &start) != 1)
        return 0;
    return start;
}

/* The first cgroup2 mount: its mount point and the root of the hierarchy it shows. */
static int
find_mount(char *mnt, size_t size, char *root, size_t rsize)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    char line[4096];
    int rc = -1;

    if (f == NULL)
        return -1;
    while (rc < 0 && fgets(line, sizeof(line), f) != NULL) {
        char r[2048], m[2048], *dash = strstr(line, " - ");

        if (dash == NULL || strncmp(dash + 3, "cgroup2 ", 8) != 0)
            continue;
        if (sscanf(line, "%*s %*s %*s %2047s %2047s", r, m) == 2) {
            snprintf(mnt, size, "%s", m);
            snprintf(root, rsize, "%s", r);
            rc = 0;
        }
    }
    fclose(f);
    return rc;
}

/* Our cgroup v2 path ("0::/path" in /proc/self/cgroup). */
static int
own_cgroup(char *out, size_t size)
{
    FILE *f = fopen("/proc/self/cgroup", "re");
    char line[4096];
    int rc = -1;

    if (f == NULL)
        return -1;
    while (rc < 0 && fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, "0::", 3) == 0) {
            line[strcspn(line, "\n")] = '\0';
            rc = snprintf(out, size, "%s", line + 3) < (int)size ? 0 : -1;
        }
    fclose(f);
    return rc;
}

static int
not_in_force(struct cgroups *cg, const char *why)
{
    cg->base[0] = '\0';
    if (snprintf(cg->what, sizeof(cg->what), "process groups (%s)", why) >= (int)sizeof(cg->what))
        snprintf(cg->what, sizeof(cg->what), "process groups");
    return -1;
}

/* <mount><own path minus the mount's root>/gust */
static int
base_path(struct cgroups *cg)
{
    char mnt[2048], root[2048], own[2048];
    const char *rel;
    size_t rlen;

    if (find_mount(mnt, sizeof(mnt), root, sizeof(root)) < 0)
        return not_in_force(cg, "no cgroup2 mount");
    if (own_cgroup(own, sizeof(own)) < 0)
        return not_in_force(cg, "no cgroup v2 entry in /proc/self/cgroup");
    rlen = strcmp(root, "/") == 0 ? 0 : strlen(root);
    if (strncmp(own, root, rlen) != 0)
        return not_in_force(cg, "our cgroup is outside the cgroup2 mount");
    rel = own + rlen;
    while (*rel == '/')
        rel++;
    if (snprintf(cg->base, sizeof(cg->base), "%s%s%s%sgust", mnt, strcmp(mnt, "/") ? "/" : "", rel,
                 *rel ? "/" : "") >= (int)sizeof(cg->base))
        return not_in_force(cg, "the cgroup path is too long");
    return 0;
}

/* Find the cgroup2 hierarchy, make our folder there (see executor_int.h). */
int
cgroups_init(struct cgroups *cg)
{
    char path[PATH_MAX + 32], why[PATH_MAX + 64];

    cg->pid = getpid();
    cg->start = proc_start(cg->pid);
    if (base_path(cg) < 0)
        return -1;
    if (mkdir(cg->base, 0755) < 0 && errno != EEXIST) {
        snprintf(why, sizeof(why), "cannot create %s: %s", cg->base, strerror(errno));
        return not_in_force(cg, why);
    }
    snprintf(path, sizeof(path), "%s/cgroup.kill", cg->base);
    if (access(path, W_OK) < 0) {
        snprintf(why, sizeof(why), "%s: %s", path, strerror(errno));
        return not_in_force(cg, why);
    }
    snprintf(path, sizeof(path), "%s/cgroup.procs", cg->base);
    if (access(path, W_OK) < 0 || cg->start == 0) {
        snprintf(why, sizeof(why), "%s: %s", path, strerror(errno));
        return not_in_force(cg, why);
    }
    snprintf(cg->what, sizeof(cg->what), "cgroup v2 (%s)", cg->base);
    return 0;
}

/* Make a try's cgroup (see executor_int.h). */
int
cgroups_create(struct cgroups *cg, const char *key, char **path)
{
    char procs[PATH_MAX + 200];
    int fd;

    *path = NULL;
    if (asprintf(path, "%s/%d.%llu.%u.%s", cg->base, (int)cg->pid, cg->start, ++cg->seq,
                 key && *key ? key : "x") < 0) {
        *path = NULL;
        return -1;
    }
    if (mkdir(*path, 0755) < 0) {
        free(*path);
        *path = NULL;
        return -1;
    }
    snprintf(procs, sizeof(procs), "%s/cgroup.procs", *path);
    if ((fd = open(procs, O_WRONLY | O_CLOEXEC)) < 0) {
        rmdir(*path);
        free(*path);
        *path = NULL;
    }
    return fd;
}

/* Write "1" to its cgroup.kill. */
void
cgroups_kill(const char *path)
{
    char kill[PATH_MAX + 200];
    int fd;

    snprintf(kill, sizeof(kill), "%s/cgroup.kill", path);
    if ((fd = open(kill, O_WRONLY | O_CLOEXEC)) < 0)
        return;
    if (write(fd, "1", 1) < 0) {
        /* ENOENT/ENODEV: already gone; nothing else to do about the rest */
    }
    close(fd);
}

/* "populated 1" in cgroup.events. */
bool
cgroups_populated(const char *path)
{
    char events[PATH_MAX + 200], buf[256];

    snprintf(events, sizeof(events), "%s/cgroup.events", path);
    if (read_small(events, buf, sizeof(buf)) < 0)
        return false;
    return strstr(buf, "populated 1") != NULL;
}

/* rmdir; a missing cgroup counts as removed. */
int
cgroups_remove(const char *path)
{
    return rmdir(path) == 0 || errno == ENOENT ? 0 : -1;
}

/* Kill one cgroup and remove it once empty, waiting a little (SIGKILL is not instant). */
static void
kill_remove(const char *path)
{
    struct timespec ten_ms = {0, 10 * 1000 * 1000};

    cgroups_kill(path);
    for (int i = 0; i < (int)(SWEEP_WAIT_SECONDS * 100) && cgroups_populated(path); i++)
        nanosleep(&ten_ms, NULL);
    cgroups_remove(path);
}

/* Whether entry name of the folder is to be swept: another owner's with this key, or (key
 * NULL) one whose owner is no longer running. */
static bool
sweep_this(const struct cgroups *cg, const char *name, const char *key)
{
    int pid, end = 0;
    unsigned long long start;
    unsigned seq;

    if (sscanf(name, "%d.%llu.%u.%n", &pid, &start, &seq, &end) != 3 || end == 0)
        return false;
    if (key != NULL)
        return strcmp(name + end, key) == 0 && !(pid == cg->pid && start == cg->start);
    return proc_start(pid) != start;
}

/* Kill and remove other processes' cgroups (see executor_int.h). */
int
cgroups_sweep(struct cgroups *cg, const char *key)
{
    char path[PATH_MAX + 300];
    struct dirent *de;
    DIR *d;
    int found = 0;

    if (cg->base[0] == '\0' || (d = opendir(cg->base)) == NULL)
        return 0;
    while ((de = readdir(d)) != NULL) {
        if (de->d_type != DT_DIR || !sweep_this(cg, de->d_name, key))
            continue;
        snprintf(path, sizeof(path), "%s/%s", cg->base, de->d_name);
        kill_remove(path);
        found++;
    }
    closedir(d);
    return found;
}
