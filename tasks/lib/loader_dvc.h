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

#endif
