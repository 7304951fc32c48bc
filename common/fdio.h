/* fdio: small helpers over file descriptors and folders that both programs need. */
#ifndef GUST_FDIO_H
#define GUST_FDIO_H

#include <stddef.h>

/* Write all of buf to fd, retrying on EINTR and short writes. 0, or -1 with errno set. */
int fd_write_all(int fd, const char *buf, size_t len);

/* mkdir -p, from the leaf: one mkdir when the parent is there (a try's folder, the common
 * case), the parents only when it is not. 1 when path was created, 0 when it was a folder
 * already, -1 with errno set (ENOTDIR when a file is in the way). */
int mkdir_p(const char *path);

#endif
