/* loader_wiki: the wiki_data_dag pipeline of bin/stream_loader (issue 6, wiki item 2): topic
 * recent_changes -> wiki_recent_changes, one row per rcid (duplicates ignored); refused
 * records -> wiki_recent_changes_dead_letters with the reason. The interface it implements is
 * in loader.h. */
#ifndef GUST_LOADER_WIKI_H
#define GUST_LOADER_WIKI_H

#include "loader.h"

/* recent_changes -> wiki_recent_changes (through a per-batch temp table, ON CONFLICT (rcid)
 * DO NOTHING). */
extern const struct loader_pipeline loader_wiki;

/* The number of record columns of copy_sql before source_topic/partition/offset. */
#define LOADER_WIKI_COLUMNS 10

/* The longest user name MediaWiki stores, in bytes ($wgMaxNameChars; actor_name is
 * varbinary(255)). */
#define LOADER_WIKI_USER_MAX 255

#endif
