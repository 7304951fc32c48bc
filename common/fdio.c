/* fdio: write(2) until everything is written (a short write is normal on pipes and on
 * signals; only an error or a zero-byte write stops the loop), and mkdir -p. */
#include "fdio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int
fd_write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* 0 when path is a folder (mkdir said EEXIST), else -1 with errno ENOTDIR. */
static int
is_folder(const char *path)
{
    struct stat st;

    if (stat(path, &st) == 0 && !S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

int
mkdir_p(const char *path)
{
    char *parent, *slash;
    int rc;

    if (mkdir(path, 0755) == 0)
        return 1;
    if (errno == EEXIST)
        return is_folder(path);
    if (errno != ENOENT || (parent = strdup(path)) == NULL)
        return -1;
    slash = strrchr(parent, '/');
    while (slash && slash > parent && slash[-1] == '/')
        slash--;                            /* "a//b": the parent is "a" */
    if (slash == NULL || slash == parent) { /* no parent to make: ENOENT stands */
        free(parent);
        errno = ENOENT;
        return -1;
    }
    *slash = '\0';
    rc = mkdir_p(parent);
    free(parent);
    if (rc < 0)
        return -1;
    if (mkdir(path, 0755) == 0)
        return 1;
    return errno == EEXIST ? is_folder(path) : -1; /* made meanwhile by another process */
}
