/* loader_users: the user_automation pipeline of bin/stream_loader (issue 6, item 3): topic
 * users_created -> created_users, cleaned and deduplicated by email; refused records ->
 * created_users_dead_letters with the reason. The interface it implements is in loader.h. */
#ifndef GUST_LOADER_USERS_H
#define GUST_LOADER_USERS_H

#include <stdbool.h>
#include <stddef.h>

#include "loader.h"

/* users_created -> created_users (through a per-batch temp table, merged by email). */
extern const struct loader_pipeline loader_users;

/* The number of record columns of copy_sql before source_topic/partition/offset. */
#define LOADER_USERS_COLUMNS 12

/* True when s (len bytes, already trimmed and lowered) matches the original's email rule
 * ^[A-Za-z0-9+_.-]+@[A-Za-z0-9.-]+$ (the same regex is a CHECK on created_users.email). */
bool loader_users_email_ok(const char *s, size_t len);

#endif
