/* sensorpoke: FileSensor's and BashSensor's pokes (see sensorpoke.h).
 *
 * FileSensor: Python's glob(recursive=True) turns "**" into any number of folders; glob(3)
 * does not, so a pattern with "**" segments is globbed once per depth (0 to
 * SENSORPOKE_MAX_DEPTH folders in place of each), which gives the same matches for trees
 * that deep. Like Python's glob, '*' does not match a leading '.'. */
#include "sensorpoke.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "task.h"

extern char **environ;

/* ---- FileSensor ---- */

/* Whether folder path has a non-folder entry anywhere below it (os.walk's files). */
static bool
tree_has_file(const char *path, int depth)
{
    DIR *d = opendir(path);
    struct dirent *de;
    bool found = false;

    if (d == NULL)
        return false;
    while (!found && (de = readdir(d)) != NULL) {
        char sub[4096];
        struct stat st;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
        if (stat(sub, &st) == 0 && S_ISDIR(st.st_mode)) {
            /* os.walk does not follow links to folders */
            if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode) && depth < 64)
                found = tree_has_file(sub, depth + 1);
        } else {
            found = true;
        }
    }
    closedir(d);
    return found;
}

/* The first match of g that is a file or a folder holding one, or NULL. */
static const char *
first_hit(const glob_t *g)
{
    for (size_t i = 0; i < g->gl_pathc; i++) {
        struct stat st;
        if (stat(g->gl_pathv[i], &st) == 0 && S_ISREG(st.st_mode))
            return g->gl_pathv[i];
        if (stat(g->gl_pathv[i], &st) == 0 && S_ISDIR(st.st_mode) &&
            tree_has_file(g->gl_pathv[i], 0))
            return g->gl_pathv[i];
    }
    return NULL;
}

/* pattern with its first "**" segment replaced by `depth` "*" segments (0: removed). */
static int
expand_one(const char *pattern, const char *star, int depth, char *out, size_t size)
{
    size_t pre = (size_t)(star - pattern), used;
    const char *rest = star + 2;

    if (depth == 0) { /* the segment and one '/' beside it go: "a/ ** /b" -> "a/b" */
        if (pre == 0 && *rest == '/')
            rest++;
        else if (pre > 0)
            pre--; /* drop the '/' before "**" */
        used = (size_t)snprintf(out, size, "%.*s%s", (int)pre, pattern, rest);
        return used < size && out[0] ? 0 : -1;
    }
    used = (size_t)snprintf(out, size, "%.*s*", (int)pre, pattern);
    for (int i = 1; i < depth && used < size; i++)
        used += (size_t)snprintf(out + used, size - used, "/*");
    if (used < size)
        used += (size_t)snprintf(out + used, size - used, "%s", rest);
    return used < size ? 0 : -1;
}

/* glob pattern (with "**" expanded when recursive) until a hit; its path into hit. */
static bool
glob_hit(const char *pattern, bool recursive, char *hit, size_t size)
{
    const char *star = recursive ? strstr(pattern, "**") : NULL;
    bool segment =
        star && (star == pattern || star[-1] == '/') && (star[2] == '\0' || star[2] == '/');
    glob_t g;
    bool found = false;

    if (!segment) {
        if (glob(pattern, 0, NULL, &g) == 0 && first_hit(&g) != NULL) {
            snprintf(hit, size, "%s", first_hit(&g));
            found = true;
        }
        globfree(&g);
        return found;
    }
    for (int depth = 0; depth <= SENSORPOKE_MAX_DEPTH && !found; depth++) {
        char sub[4096];
        if (expand_one(pattern, star, depth, sub, sizeof(sub)) == 0)
            found = glob_hit(sub, true, hit, size);
    }
    return found;
}

int
sensorpoke_file(const char *base, const char *pattern, bool recursive, char *what, size_t size,
                struct err *e)
{
    char full[4096], hit[4096];
    size_t blen = base ? strlen(base) : 0;
    int n;

    if (pattern[0] == '/' || blen == 0)
        n = snprintf(full, sizeof(full), "%s", pattern);
    else
        n = snprintf(full, sizeof(full), "%s%s%s", base, base[blen - 1] == '/' ? "" : "/", pattern);
    if (n < 0 || (size_t)n >= sizeof(full))
        return err_set(e, ERR_USAGE, "filepath is too long");
    if (glob_hit(full, recursive, hit, sizeof(hit))) {
        snprintf(what, size, "%s: found %s", full, hit);
        return 1;
    }
    snprintf(what, size, "%s: no file matches", full);
    return 0;
}

/* ---- BashSensor ---- */

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

/* Wait for pid; on SIGTERM to us, SIGTERM its group and keep waiting. */
static int
wait_child(pid_t pid, int *status)
{
    bool sent = false;

    for (;;) {
        if (waitpid(pid, status, 0) == pid)
            return 0;
        if (errno != EINTR)
            return -1;
        if (task_stopping() && !sent) {
            kill(-pid, SIGTERM);
            sent = true;
        }
    }
}

static int
spawn_bash(const char *cmd, char *const *env, const char *dir, pid_t *pid, struct err *e)
{
    char *argv[] = {"bash", "-c", (char *)cmd, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, all;
    int rc;

    sigemptyset(&none);
    sigfillset(&all);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addchdir_np(&fa, dir);
    posix_spawnattr_init(&at);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    rc = posix_spawn(pid, "/bin/bash", &fa, &at, argv, env ? env : environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    return rc == 0 ? 0 : err_set(e, ERR_FAIL, "cannot run /bin/bash: %s", strerror(rc));
}

int
sensorpoke_bash(const char *cmd, char *const *env, const char *cwd, char *what, size_t size,
                struct err *e)
{
    char tmp[4096];
    const char *dir = cwd;
    pid_t pid;
    int status = 0, rc = -1;

    if (dir == NULL) { /* Airflow runs it in a new temporary folder */
        snprintf(tmp, sizeof(tmp), "%s/airflowtmpXXXXXX", task_env("TMPDIR", "/tmp"));
        if (mkdtemp(tmp) == NULL)
            return err_set(e, ERR_FAIL, "cannot make a temporary folder: %s", strerror(errno));
        dir = tmp;
    }
    if (spawn_bash(cmd, env, dir, &pid, e) < 0)
        goto out;
    if (wait_child(pid, &status) < 0) {
        err_set(e, ERR_FAIL, "waitpid: %s", strerror(errno));
        goto out;
    }
    if (task_stopping()) {
        err_set(e, ERR_FAIL, "stopped by signal %d while the command ran", task_stop_signal());
        goto out;
    }
    if (WIFEXITED(status))
        snprintf(what, size, "command exited %d", WEXITSTATUS(status));
    else
        snprintf(what, size, "command killed by signal %d", WTERMSIG(status));
    rc = WIFEXITED(status) && WEXITSTATUS(status) == 0;
out:
    if (cwd == NULL)
        nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
}
