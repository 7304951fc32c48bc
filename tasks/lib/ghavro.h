/* ghavro: GitHub events as Avro, shared by bin/event_collector (checks each posted event and
 * packs a batch as one Avro object container) and stream_loader's github_events pipeline
 * (reads every record of a container back). libavro does the encoding; this module owns the
 * schema and the mapping between GitHub's JSON event and the record.
 *
 * The record (Avro schema GitHubEvent, namespace gust):
 *   event_id:string (the collector's UUID), id:string, type:string,
 *   actor:{id:long, login:string, gravatar_id:string, url:string, avatar_url:string},
 *   repo:{id:long, name:string, url:string}, payload:[null,string] (the payload object as its
 *   JSON text), public:boolean, created_at:string (as sent, ISO 8601).
 * From JSON: id may be a string or an integer (GitHub sends strings; stored as its decimal
 * text); type is required; a missing actor/repo string is ""; a missing actor.id or repo.id
 * is 0; a missing public is false; a missing created_at is "". */
#ifndef GUST_GHAVRO_H
#define GUST_GHAVRO_H

#include <stddef.h>

#include <jansson.h>

#include "err.h"

/* The writer schema, as JSON text. */
extern const char ghavro_schema_json[];

/* Whether event (borrowed) can become a record: 0, or -1 with a reason such as
 * "actor.id: not an integer" in why (whylen bytes). The collector answers 400 with it. */
int ghavro_check(const json_t *event, char *why, size_t whylen);

/* A container being built in memory. codec: "deflate" or "null". */
struct ghavro_enc;
struct ghavro_enc *ghavro_enc_new(const char *codec, struct err *e);
/* Append one event (checked by ghavro_check first; borrowed) with its collector id. */
int ghavro_enc_add(struct ghavro_enc *w, const char *event_id, const json_t *event, struct err *e);
/* The container's bytes (*buf malloc'd, the caller frees it); w is freed in every case. */
int ghavro_enc_finish(struct ghavro_enc *w, char **buf, size_t *len, struct err *e);
/* Free an unfinished container. NULL is fine. */
void ghavro_enc_free(struct ghavro_enc *w);

/* Called for every record of a container in order (index from 0): rec is the record as a JSON
 * object with the schema's field names (actor and repo nested, payload as its JSON text or
 * null), or NULL with problem saying why the record does not match the schema. Returns 0 to
 * go on, -1 (e set) to stop. */
typedef int (*ghavro_record_fn)(void *arg, size_t index, const json_t *rec, const char *problem,
                                struct err *e);

/* Read every record of the container buf (len bytes). Returns 0 when it was read to the end;
 * 1 when the bytes are not a readable container or stop being one (e->msg says why and where:
 * the records before that point were passed to fn); -1 when fn returned -1. */
int ghavro_decode(const void *buf, size_t len, ghavro_record_fn fn, void *arg, struct err *e);

#endif
