/* loader_dvc: the drug registry pipeline of bin/stream_loader (issue 5): all_data ->
 * pharmaceutical_data_staging. The pipeline interface it implements is in loader.h. */
#ifndef GUST_LOADER_DVC_H
#define GUST_LOADER_DVC_H

#include <stddef.h>

#include "err.h"
#include "loader.h"

/* all_data -> pharmaceutical_data_staging, dead letters in pharmaceutical_dead_letters. */
extern const struct loader_pipeline loader_dvc;

/* The same pipeline with every message parsed by jansson (no jsonflat fast path): the
 * reference the tests compare loader_dvc with. */
extern const struct loader_pipeline loader_dvc_jansson;

/* The number of source columns (the 29 flat fields) before source_topic/partition/offset. */
#define LOADER_DVC_COLUMNS 29

/* The camelCase field of column i (0 <= i < LOADER_DVC_COLUMNS), in copy_sql's order. */
const char *loader_dvc_field(int i);

/* Convert an ISO 8601 timestamp with an offset ("2025-12-01T22:00:51.22+07:00", 0 to 7
 * fractional digits, Z or +-HH[:MM]) to the same instant in UTC as PostgreSQL timestamptz
 * text ("2025-12-01 15:00:51.22+00"; fractional digits kept as sent). 0, or -1 with
 * ERR_PARSE for anything else (no offset, impossible date, year outside 1..9999). The users
 * and wiki pipelines convert their timestamps with it too. */
int loader_dvc_timestamp(const char *in, char *out, size_t size, struct err *e);

#endif
