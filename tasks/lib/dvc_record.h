/* dvc_record: the drug registry's data at the crawler's edge (issue 5): one answer page of
 * GetAllPublicServerPaging checked and unpacked, one item flattened into the original's 29-field
 * record, and the portal's .NET timestamps parsed into UTC instants.
 *
 * Instants are 100 ns ticks since 1970-01-01T00:00:00Z (.NET's resolution, so no source
 * timestamp loses a digit). Pure code: no I/O, nothing printed. */
#ifndef GUST_DVC_RECORD_H
#define GUST_DVC_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"

#define DVC_TICKS_PER_SEC 10000000LL
#define DVC_RECORD_FIELDS 29
#define DVC_TIME_MAX 40 /* buffer size for dvc_time_format */

/* The column type of a flat field, which the loader checks (tasks/lib/loader_dvc). */
enum dvc_field_type {
    DVC_FIELD_TEXT,   /* text: strings as sent; numbers and booleans as their JSON text */
    DVC_FIELD_KEY,    /* text that must be present and not blank (soDangKy) */
    DVC_FIELD_INT,    /* integer */
    DVC_FIELD_BIGINT, /* bigint */
    DVC_FIELD_TIME,   /* timestamptz from ISO 8601 with an offset */
};

/* A flat field: its name, where the crawler takes it from (item.obj.key; obj NULL: the item
 * itself; key NULL: computed) and its column type. */
struct dvc_field {
    const char *name, *obj, *key;
    enum dvc_field_type type;
};

/* The flat record's fields, in the original's order (the staging table's columns), and their
 * names alone (DVC_RECORD_FIELDS of each; one table in dvc_record.c makes both). */
extern const struct dvc_field dvc_field_table[DVC_RECORD_FIELDS];
extern const char *const dvc_record_fields[DVC_RECORD_FIELDS];

/* Parse "YYYY-MM-DDTHH:MM:SS[.f]" + "Z" or "+HH:MM"/"-HH:MM" (0 to 7 fraction digits; 'T'
 * or ' ' between date and time) into ticks since the epoch, UTC. ERR_PARSE on anything else,
 * out-of-range fields included (month 13, Feb 30, hour 24, offset over 23:59). */
int dvc_time_parse(const char *s, int64_t *ticks, struct err *e);

/* Format ticks as UTC "YYYY-MM-DDTHH:MM:SS[.digits]Z" with exactly digits (0..7) fraction
 * digits, truncated (never rounded up). buf holds at least DVC_TIME_MAX bytes. */
void dvc_time_format(int64_t ticks, int digits, char *buf, size_t size);

/* Check one answer body: JSON object, success true, result.items an array, result.totalCount
 * an integer >= 0. On success *root gets the document (new reference; NULL allowed to only
 * validate), *items the items array (borrowed from *root) and *total the count. ERR_PARSE
 * otherwise, with the portal's error message when it sent one. */
int dvc_page_parse(const char *body, size_t size, json_t **root, json_t **items, long long *total,
                   struct err *e);

/* dvc_page_parse as an http_validate_fn: 0 when the body is a usable page. */
int dvc_page_validate(const char *body, size_t size, struct err *e);

/* dvc_page_parse as an http_parse_fn: the usable page's document (a json_t *, new reference)
 * into *out, so that the crawler parses each page once; dvc_page_free frees it. */
int dvc_page_keep(const char *body, size_t size, void **out, struct err *e);
void dvc_page_free(void *root);

/* The items array (borrowed from root) and totalCount of a document dvc_page_parse accepted;
 * ERR_PARSE as dvc_page_parse when it is not a page. */
int dvc_page_items(const json_t *root, json_t **items, long long *total, struct err *e);

/* What the crawler needs of an item before flattening it: the registration number (borrowed)
 * and lastModificationTime in ticks. An item without a usable time, or that is not an object,
 * fails (ERR_PARSE, e says which field); *ticks_ok tells whether *ticks was set, so the caller
 * can still use the time of an item that lacks soDangKy. */
int dvc_item_check(const json_t *item, const char **so_dang_ky, int64_t *ticks, int *ticks_ok,
                   struct err *e);

/* The id of an item as text for log lines ("?" when absent), into buf. */
const char *dvc_item_id(const json_t *item, char *buf, size_t size);

/* The original's flat record of item (new reference): the 29 fields in order, values copied
 * as the source sent them (text and timestamps unchanged), null where a nested object or field
 * is missing or null. fullAddress = diaChiSanXuat + ", " + nuocSanXuat, or diaChiSanXuat alone
 * when it already contains the country or there is no country; null without an address.
 * NULL only when out of memory or item is not an object. */
json_t *dvc_record_flatten(const json_t *item);

/* Serialise a record or an array of records: compact UTF-8 JSON, no ASCII escaping, fields
 * in order (malloc'd, the caller frees; NULL when out of memory). */
char *dvc_record_dump(const json_t *value);

#endif
