/* loader_events: the github_events pipeline of bin/stream_loader, the bronze layer of the
 * event pipeline: topic raw_metrics_avro (one Avro container of GitHub events per message,
 * packed by bin/event_collector with tasks/lib/ghavro) -> bronze.github_events, one row per
 * record, numbered by bronze.ingest_batch() in commit order; refused messages and records ->
 * bronze.github_events_dead_letters with the reason. The interface it implements is in
 * loader.h; the tables are migrations/0006_github_events_bronze.sql. */
#ifndef GUST_LOADER_EVENTS_H
#define GUST_LOADER_EVENTS_H

#include "loader.h"

/* raw_metrics_avro -> bronze.github_events (through the per-batch temp table
 * github_events_batch). */
extern const struct loader_pipeline loader_events;

/* The number of record columns of copy_sql before source_topic/partition/offset (after them
 * comes record_index). */
#define LOADER_EVENTS_COLUMNS 14

#endif
