/* fdio: small helpers over file descriptors that both programs need. */
#ifndef GUST_FDIO_H
#define GUST_FDIO_H

#include <stddef.h>

/* Write all of buf to fd, retrying on EINTR and short writes. 0, or -1 with errno set. */
int fd_write_all(int fd, const char *buf, size_t len);

#endif
