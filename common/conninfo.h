/* conninfo: passwords out of libpq connection strings and messages (see conninfo.c). */
#ifndef GUST_CONNINFO_H
#define GUST_CONNINFO_H

#include <stddef.h>

/* Copy conninfo (key=value or URI; NULL is "") into buf with every password replaced by
 * "***": password= values (quoted or not, also in a URI query) and a URI's user:password@. */
void conninfo_mask(const char *conninfo, char *buf, size_t size);

/* Replace in msg (in place, size bytes) every password that conninfo or $PGPASSWORD holds. */
void conninfo_scrub(char *msg, size_t size, const char *conninfo);

#endif
