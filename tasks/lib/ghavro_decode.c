/* ghavro_decode: reading an Avro object container of GitHub events back (see ghavro.h): every
 * record is read with the WRITER's schema from the container's header and then matched, field
 * by field, against ours, so a container written with another schema yields per-record
 * problems, not garbage or a crash.
 *
 * Key invariant: libavro only ever sees bytes this module has already checked. libavro 1.11's
 * file reader trusts its input (a block size from the bytes goes straight to malloc, a block
 * that fails to inflate is silently read as empty, a container without blocks cannot be
 * opened, the writer schema leaks, and a string running past its block leaks its buffer), so
 * it is not used: this module walks the container's framing itself (magic, header map, codec,
 * every block's count, size and sync marker), inflates deflate blocks with zlib up to
 * GHAVRO_ALLOC_MAX, and lets libavro parse the schema and decode records from a memory reader
 * over one block, and only after avro_skip_data (which allocates nothing) has shown that the
 * records fit in the block. Writer schemas are limited to what a GitHubEvent can be written
 * with (records, unions and scalars; no arrays, maps, enums or fixed; nested at most
 * GHAVRO_SCHEMA_DEPTH levels, so a recursive schema is refused too). */
#include "ghavro.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <avro.h>
#include <zlib.h>

#define GHAVRO_SCHEMA_DEPTH 16 /* deeper (or recursive) writer schemas are refused */
#define SYNC_LEN 16

/* The string fields of the nested records, in schema order (their id comes first). */
static const char *const actor_strings[] = {"login", "gravatar_id", "url", "avatar_url", NULL};
static const char *const repo_strings[] = {"name", "url", NULL};

/* ---- the container's framing ------------------------------------------------------------ */

/* Where the walk over the container is. */
struct frame {
    const unsigned char *p;
    size_t len, pos;
    const char *schema; /* the avro.schema bytes, in p */
    size_t schema_len;
    bool deflate;
    bool have_codec;
    unsigned char sync[SYNC_LEN];
};

/* A zig-zag varint long at f->pos. */
static int
read_long(struct frame *f, int64_t *v)
{
    uint64_t u = 0;

    for (int shift = 0; shift < 64; shift += 7) {
        unsigned char b;
        if (f->pos >= f->len)
            return -1;
        b = f->p[f->pos++];
        u |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
            return 0;
        }
    }
    return -1;
}

/* A length-prefixed string or bytes at f->pos: *s points into the buffer. */
static int
read_bytes(struct frame *f, const char **s, size_t *n)
{
    int64_t len;

    if (read_long(f, &len) < 0 || len < 0 || (uint64_t)len > f->len - f->pos)
        return -1;
    *s = (const char *)f->p + f->pos;
    *n = (size_t)len;
    f->pos += (size_t)len;
    return 0;
}

/* One key/value of the header map; avro.schema and avro.codec are kept. */
static int
header_entry(struct frame *f, struct err *e)
{
    const char *k, *v;
    size_t kn, vn;

    if (read_bytes(f, &k, &kn) < 0 || read_bytes(f, &v, &vn) < 0)
        return err_set(e, ERR_PARSE, "header: metadata truncated or bad at byte %zu", f->pos);
    if (kn == 11 && memcmp(k, "avro.schema", 11) == 0) {
        if (f->schema)
            return err_set(e, ERR_PARSE, "header: avro.schema given twice");
        f->schema = v;
        f->schema_len = vn;
    } else if (kn == 10 && memcmp(k, "avro.codec", 10) == 0) {
        if (f->have_codec)
            return err_set(e, ERR_PARSE, "header: avro.codec given twice");
        f->have_codec = true;
        f->deflate = vn == 7 && memcmp(v, "deflate", 7) == 0;
        if (!f->deflate && !(vn == 4 && memcmp(v, "null", 4) == 0)) {
            char name[24]; /* quoted as printable ASCII only: messages end up in text columns */
            size_t n = vn < sizeof(name) - 1 ? vn : sizeof(name) - 1;
            for (size_t i = 0; i < n; i++)
                name[i] = v[i] >= 0x20 && v[i] < 0x7f ? v[i] : '?';
            name[n] = '\0';
            return err_set(e, ERR_PARSE, "header: codec '%s' (null or deflate expected)", name);
        }
    }
    return 0;
}

/* Magic, metadata map (avro.schema required; no avro.codec means null) and sync marker. */
static int
frame_header(struct frame *f, struct err *e)
{
    int64_t count, size;

    if (f->len < 4 || memcmp(f->p, "Obj\x01", 4) != 0)
        return err_set(e, ERR_PARSE, "not an Avro object container (no 'Obj\\x01' magic)");
    f->pos = 4;
    for (;;) {
        if (read_long(f, &count) < 0 || count == INT64_MIN)
            return err_set(e, ERR_PARSE, "header: metadata truncated or bad at byte %zu", f->pos);
        if (count == 0)
            break;
        if (count < 0 && read_long(f, &size) < 0)
            return err_set(e, ERR_PARSE, "header: metadata truncated at byte %zu", f->pos);
        for (int64_t i = count < 0 ? -count : count; i > 0; i--)
            if (header_entry(f, e) < 0)
                return -1;
    }
    if (f->schema == NULL)
        return err_set(e, ERR_PARSE, "header: no avro.schema");
    if (f->len - f->pos < SYNC_LEN)
        return err_set(e, ERR_PARSE, "header: truncated before its sync marker");
    memcpy(f->sync, f->p + f->pos, SYNC_LEN);
    f->pos += SYNC_LEN;
    return 0;
}

/* One block at f->pos: its record count and bytes, f->pos after its sync marker. 0, or -1
 * with e saying where the framing broke. */
static int
frame_block(struct frame *f, size_t block, int64_t *count, const unsigned char **data, size_t *size,
            struct err *e)
{
    size_t at = f->pos, left;
    int64_t n;

    if (read_long(f, count) < 0 || read_long(f, &n) < 0)
        return err_set(e, ERR_PARSE, "block %zu at byte %zu: truncated header", block, at);
    left = f->len - f->pos;
    if (n < 0 || (uint64_t)n > left || left - (size_t)n < SYNC_LEN)
        return err_set(e, ERR_PARSE,
                       "block %zu at byte %zu: truncated (%" PRId64 " bytes announced, %zu left)",
                       block, at, n, left);
    if (*count <= 0)
        return err_set(e, ERR_PARSE, "block %zu at byte %zu: %" PRId64 " records", block, at,
                       *count);
    *data = f->p + f->pos;
    *size = (size_t)n;
    f->pos += (size_t)n;
    if (memcmp(f->p + f->pos, f->sync, SYNC_LEN) != 0)
        return err_set(e, ERR_PARSE,
                       "block %zu at byte %zu: sync marker does not match the header's", block, at);
    f->pos += SYNC_LEN;
    return 0;
}

/* A deflate block's bytes inflated into *out (malloc'd, at most GHAVRO_ALLOC_MAX bytes). */
static int
inflate_block(const unsigned char *in, size_t len, unsigned char **out, size_t *outlen,
              struct err *e)
{
    z_stream z = {0};
    size_t cap = len < GHAVRO_ALLOC_MAX / 4 ? len * 4 + 1024 : GHAVRO_ALLOC_MAX;
    unsigned char *buf = NULL, *nb;
    int zrc;

    if (inflateInit2(&z, -15) != Z_OK)
        return err_set(e, ERR_FAIL, "inflate: cannot start zlib");
    z.next_in = (unsigned char *)in;
    z.avail_in = (uInt)len;
    for (;;) {
        if ((nb = realloc(buf, cap)) == NULL) {
            zrc = Z_MEM_ERROR;
            break;
        }
        buf = nb;
        z.next_out = buf + z.total_out;
        z.avail_out = (uInt)(cap - z.total_out);
        zrc = inflate(&z, Z_FINISH);
        if (zrc == Z_STREAM_END || z.avail_out != 0 || cap == GHAVRO_ALLOC_MAX)
            break;
        cap = cap < GHAVRO_ALLOC_MAX / 2 ? cap * 2 : GHAVRO_ALLOC_MAX; /* more output */
    }
    *outlen = z.total_out;
    inflateEnd(&z);
    if (zrc == Z_STREAM_END) {
        *out = buf;
        return 0;
    }
    free(buf);
    if (zrc == Z_MEM_ERROR)
        return err_set(e, ERR_FAIL, "inflate: out of memory");
    if (z.avail_out == 0)
        return err_set(e, ERR_PARSE, "inflates to more than %zu bytes", GHAVRO_ALLOC_MAX);
    return err_set(e, ERR_PARSE, "deflate data is corrupt (%s)", z.msg ? z.msg : "truncated");
}

/* ---- the writer's schema ----------------------------------------------------------------- */

/* Whether schema s, expanded, uses only records, unions and scalars, within
 * GHAVRO_SCHEMA_DEPTH levels and *budget nodes (a recursive schema never does). */
static bool
schema_ok(avro_schema_t s, int depth, int *budget)
{
    size_t n;

    if (depth > GHAVRO_SCHEMA_DEPTH || --*budget < 0)
        return false;
    switch (avro_typeof(s)) {
    case AVRO_RECORD:
        n = avro_schema_record_size(s);
        for (size_t i = 0; i < n; i++)
            if (!schema_ok(avro_schema_record_field_get_by_index(s, (int)i), depth + 1, budget))
                return false;
        return true;
    case AVRO_UNION:
        n = avro_schema_union_size(s);
        for (size_t i = 0; i < n; i++)
            if (!schema_ok(avro_schema_union_branch(s, (int)i), depth + 1, budget))
                return false;
        return true;
    case AVRO_LINK:
        return schema_ok(avro_schema_link_target(s), depth + 1, budget);
    case AVRO_ARRAY:
    case AVRO_MAP:
    case AVRO_ENUM:
    case AVRO_FIXED:
        return false;
    default:
        return true;
    }
}

/* Named types (record, error, enum, fixed) defined in the schema JSON j: their full names
 * (name, or namespace.name with the namespace given or inherited) go into seen. false when one
 * is defined twice: libavro 1.11 then fails with "Cannot save record schema" and leaks the
 * records it built (found by fuzz_ghavro). Walks every value, "default" ones included, so it
 * can refuse a schema libavro would take, never the reverse. */
static bool
names_unique(const json_t *j, const char *ns, json_t *seen, int depth)
{
    const char *key, *name, *type, *own;
    json_t *v;
    size_t i;
    char full[512];

    if (depth > 64)
        return false;
    if (json_is_array(j)) {
        json_array_foreach(j, i, v)
        {
            if (!names_unique(v, ns, seen, depth + 1))
                return false;
        }
        return true;
    }
    if (!json_is_object(j))
        return true;
    type = json_string_value(json_object_get(j, "type"));
    name = json_string_value(json_object_get(j, "name"));
    if (type && name &&
        (!strcmp(type, "record") || !strcmp(type, "error") || !strcmp(type, "enum") ||
         !strcmp(type, "fixed"))) {
        own = json_string_value(json_object_get(j, "namespace"));
        if (strchr(name, '.'))
            snprintf(full, sizeof(full), "%s", name);
        else
            snprintf(full, sizeof(full), "%s%s%s", own ? own : ns, (own ? *own : *ns) ? "." : "",
                     name);
        if (json_object_get(seen, full) != NULL || json_object_set_new(seen, full, json_true()))
            return false;
        if (strrchr(full, '.'))
            *strrchr(full, '.') = '\0';
        else
            full[0] = '\0';
        ns = full;
    }
    json_object_foreach((json_t *)j, key, v)
    {
        if (!names_unique(v, ns, seen, depth + 1))
            return false;
    }
    return true;
}

/* The schema text is JSON without duplicate keys, each named type defined once. */
static int
schema_text_ok(const struct frame *f, struct err *e)
{
    json_error_t je;
    json_t *j = json_loadb(f->schema, f->schema_len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    json_t *seen = json_object();
    bool ok = j != NULL && seen != NULL && names_unique(j, "", seen, 0);

    json_decref(seen);
    if (j == NULL)
        err_set(e, ERR_PARSE, "header: avro.schema: %s", je.text);
    else if (!ok)
        err_set(e, ERR_PARSE,
                "header: avro.schema: a named type is defined twice (or nested "
                "too deep)");
    json_decref(j);
    return ok ? 0 : -1;
}

/* The writer's schema (new reference): valid, a record, within schema_ok's limits. */
static avro_schema_t
writer_schema(const struct frame *f, struct err *e)
{
    avro_schema_t s;
    int budget = 2000;

    if (schema_text_ok(f, e) < 0)
        return NULL;
    if (avro_schema_from_json_length(f->schema, f->schema_len, &s) != 0) {
        err_set(e, ERR_PARSE, "header: avro.schema: %s", avro_strerror());
        return NULL;
    }
    if (!is_avro_record(s))
        err_set(e, ERR_PARSE, "header: the writer schema is a %s, not a record",
                avro_schema_type_name(s));
    else if (!schema_ok(s, 0, &budget))
        err_set(e, ERR_PARSE,
                "header: the writer schema is recursive, too large, or has an array, map, "
                "enum or fixed (a GitHubEvent has none)");
    else
        return s;
    avro_schema_decref(s);
    return NULL;
}
/* ---- decoding: one record, matched against our schema ---------------------------------- */

static const char *
type_name(avro_type_t t)
{
    switch (t) {
    case AVRO_STRING:
        return "string";
    case AVRO_BYTES:
        return "bytes";
    case AVRO_INT32:
        return "int";
    case AVRO_INT64:
        return "long";
    case AVRO_FLOAT:
        return "float";
    case AVRO_DOUBLE:
        return "double";
    case AVRO_BOOLEAN:
        return "boolean";
    case AVRO_NULL:
        return "null";
    case AVRO_RECORD:
        return "record";
    case AVRO_ENUM:
        return "enum";
    case AVRO_FIXED:
        return "fixed";
    case AVRO_MAP:
        return "map";
    case AVRO_ARRAY:
        return "array";
    default:
        return "union";
    }
}

/* Field name of record rec (a union resolved to its branch), or -1 with the problem in why. */
static int
get_field(const avro_value_t *rec, const char *name, const char *path, avro_value_t *out, char *why,
          size_t whylen)
{
    if (avro_value_get_by_name(rec, name, out, NULL) != 0) {
        snprintf(why, whylen, "%s: missing", path);
        return -1;
    }
    while (avro_value_get_type(out) == AVRO_UNION)
        if (avro_value_get_current_branch(out, out) != 0) {
            snprintf(why, whylen, "%s: union without a value", path);
            return -1;
        }
    return 0;
}

/* A string field (or, with nullable, null) of rec into obj[name]. */
static int
put_string(const avro_value_t *rec, const char *name, const char *path, bool nullable, json_t *obj,
           char *why, size_t whylen)
{
    avro_value_t v;
    const char *s;
    size_t size;
    json_t *j;

    if (get_field(rec, name, path, &v, why, whylen) < 0)
        return -1;
    if (nullable && avro_value_get_type(&v) == AVRO_NULL)
        return json_object_set_new(obj, name, json_null());
    if (avro_value_get_type(&v) != AVRO_STRING || avro_value_get_string(&v, &s, &size) != 0) {
        snprintf(why, whylen, "%s: not a string%s (%s)", path, nullable ? " or null" : "",
                 type_name(avro_value_get_type(&v)));
        return -1;
    }
    if ((j = json_stringn(s, size ? size - 1 : 0)) == NULL) {
        snprintf(why, whylen, "%s: not valid UTF-8", path);
        return -1;
    }
    return json_object_set_new(obj, name, j);
}

/* A long (an int is promoted, as Avro's resolution does) or a boolean field into obj. */
static int
put_scalar(const avro_value_t *rec, const char *name, const char *path, avro_type_t want,
           json_t *obj, char *why, size_t whylen)
{
    avro_value_t v;
    avro_type_t t;
    int32_t i32;
    int64_t i64;
    int b;

    if (get_field(rec, name, path, &v, why, whylen) < 0)
        return -1;
    t = avro_value_get_type(&v);
    if (want == AVRO_INT64 && t == AVRO_INT64 && avro_value_get_long(&v, &i64) == 0)
        return json_object_set_new(obj, name, json_integer(i64));
    if (want == AVRO_INT64 && t == AVRO_INT32 && avro_value_get_int(&v, &i32) == 0)
        return json_object_set_new(obj, name, json_integer(i32));
    if (want == AVRO_BOOLEAN && t == AVRO_BOOLEAN && avro_value_get_boolean(&v, &b) == 0)
        return json_object_set_new(obj, name, json_boolean(b));
    snprintf(why, whylen, "%s: not a %s (%s)", path, type_name(want), type_name(t));
    return -1;
}

/* actor or repo into obj[name]: id and the strings. */
static int
put_nested(const avro_value_t *rec, const char *name, const char *const *strings, json_t *obj,
           char *why, size_t whylen)
{
    avro_value_t sub;
    json_t *o;
    char path[64];

    if (get_field(rec, name, name, &sub, why, whylen) < 0)
        return -1;
    if (avro_value_get_type(&sub) != AVRO_RECORD) {
        snprintf(why, whylen, "%s: not a record (%s)", name, type_name(avro_value_get_type(&sub)));
        return -1;
    }
    if ((o = json_object()) == NULL || json_object_set_new(obj, name, o) != 0)
        return -1;
    snprintf(path, sizeof(path), "%s.id", name);
    if (put_scalar(&sub, "id", path, AVRO_INT64, o, why, whylen) < 0)
        return -1;
    for (; *strings; strings++) {
        snprintf(path, sizeof(path), "%s.%s", name, *strings);
        if (put_string(&sub, *strings, path, false, o, why, whylen) < 0)
            return -1;
    }
    return 0;
}

/* The record as our JSON (new), or NULL with the first problem in why. */
static json_t *
record_json(const avro_value_t *rec, char *why, size_t whylen)
{
    json_t *obj = json_object();

    why[0] = '\0';
    if (obj == NULL || put_string(rec, "event_id", "event_id", false, obj, why, whylen) < 0 ||
        put_string(rec, "id", "id", false, obj, why, whylen) < 0 ||
        put_string(rec, "type", "type", false, obj, why, whylen) < 0 ||
        put_nested(rec, "actor", actor_strings, obj, why, whylen) < 0 ||
        put_nested(rec, "repo", repo_strings, obj, why, whylen) < 0 ||
        put_string(rec, "payload", "payload", true, obj, why, whylen) < 0 ||
        put_scalar(rec, "public", "public", AVRO_BOOLEAN, obj, why, whylen) < 0 ||
        put_string(rec, "created_at", "created_at", false, obj, why, whylen) < 0) {
        if (why[0] == '\0')
            snprintf(why, whylen, "out of memory");
        json_decref(obj);
        return NULL;
    }
    return obj;
}

/* ---- the records ---------------------------------------------------------------------- */

/* One pass over a container's records. */
struct decoder {
    avro_schema_t schema; /* the writer's */
    avro_value_iface_t *iface;
    avro_value_t value;
    bool have_value;
    avro_reader_t reader; /* over the current block's bytes */
    bool raw;             /* ghavro_decode_raw */
    ghavro_record_fn fn;
    void *arg;
    size_t index; /* of the next record in the container */
};

/* A record that does not match our schema as libavro writes it in JSON (new), or NULL. */
static json_t *
raw_json(const avro_value_t *value)
{
    char *text = NULL;
    json_t *j = NULL;

    if (avro_value_to_json(value, 1, &text) == 0 && text != NULL)
        j = json_loads(text, JSON_DECODE_ANY, NULL);
    free(text);
    return j;
}

/* Read the next record from d->reader and pass it to fn: 0, 1 when libavro could not read
 * it (e set), -1 when fn stopped. */
static int
deliver(struct decoder *d, struct err *e)
{
    char why[200], problem[256];
    json_t *rec;
    int rc;

    avro_value_reset(&d->value);
    if (avro_value_read(d->reader, &d->value) != 0) {
        err_set(e, ERR_PARSE, "record %zu: %s", d->index, avro_strerror());
        return 1;
    }
    if ((rec = record_json(&d->value, why, sizeof(why))) != NULL) {
        rc = d->fn(d->arg, d->index, rec, NULL, e);
    } else {
        snprintf(problem, sizeof(problem), "record %zu: %s", d->index, why);
        rec = d->raw ? raw_json(&d->value) : NULL;
        rc = d->fn(d->arg, d->index, rec, problem, e);
    }
    json_decref(rec);
    d->index++;
    return rc < 0 ? -1 : 0;
}

/* The count records of one block (size bytes, inflated): first skipped, which shows without
 * allocating that they fit, then read. 0, 1 (e set: which record does not fit), -1. */
static int
block_records(struct decoder *d, const char *data, size_t size, int64_t count, size_t block,
              struct err *e)
{
    int64_t fit = 0;
    int rc = 0;

    if ((uint64_t)count > size) { /* a GitHubEvent record takes at least one byte */
        err_set(e, ERR_PARSE, "block %zu: %" PRId64 " records cannot be in %zu bytes", block, count,
                size);
        return 1;
    }
    avro_reader_memory_set_source(d->reader, data, (int64_t)size);
    while (fit < count && avro_skip_data(d->reader, d->schema) == 0)
        fit++;
    avro_reader_memory_set_source(d->reader, data, (int64_t)size);
    for (int64_t i = 0; i < fit && rc == 0; i++)
        rc = deliver(d, e);
    if (rc == 0 && fit < count) {
        err_set(e, ERR_PARSE,
                "block %zu, record %zu: does not match the writer's schema (bytes missing or "
                "invalid)",
                block, d->index);
        rc = 1;
    }
    return rc;
}

/* Every block after the header: 0, 1 (e set), -1. */
static int
read_blocks(struct frame *f, struct decoder *d, struct err *e)
{
    int rc = 0;

    for (size_t block = 0; rc == 0 && f->pos < f->len; block++) {
        const unsigned char *data = NULL;
        unsigned char *inflated = NULL;
        size_t size = 0, at = f->pos;
        int64_t count;

        if (frame_block(f, block, &count, &data, &size, e) < 0)
            return 1;
        if (f->deflate && inflate_block(data, size, &inflated, &size, e) < 0) {
            err_prefix(e, "block %zu at byte %zu", block, at);
            return 1;
        }
        rc = block_records(d, inflated ? (const char *)inflated : (const char *)data, size, count,
                           block, e);
        free(inflated);
    }
    return rc;
}

static void
decoder_close(struct decoder *d)
{
    if (d->reader)
        avro_reader_free(d->reader);
    if (d->have_value)
        avro_value_decref(&d->value);
    if (d->iface)
        avro_value_iface_decref(d->iface);
    if (d->schema)
        avro_schema_decref(d->schema);
}

static int
decode(const void *buf, size_t len, bool raw, ghavro_record_fn fn, void *arg, struct err *e)
{
    struct frame f = {.p = buf, .len = len};
    struct decoder d = {.raw = raw, .fn = fn, .arg = arg};
    int rc = 1;

    ghavro_setup();
    if (len == 0) {
        err_set(e, ERR_PARSE, "empty message: not an Avro object container");
        return 1;
    }
    if (frame_header(&f, e) < 0 || (d.schema = writer_schema(&f, e)) == NULL)
        goto out;
    if ((d.iface = avro_generic_class_from_schema(d.schema)) == NULL ||
        avro_generic_value_new(d.iface, &d.value) != 0 ||
        (d.have_value = true, d.reader = avro_reader_memory("", 0)) == NULL) {
        err_set(e, ERR_FAIL, "writer schema: %s", avro_strerror());
        goto out;
    }
    rc = read_blocks(&f, &d, e);
out:
    decoder_close(&d);
    return rc;
}

int
ghavro_decode(const void *buf, size_t len, ghavro_record_fn fn, void *arg, struct err *e)
{
    return decode(buf, len, false, fn, arg, e);
}

int
ghavro_decode_raw(const void *buf, size_t len, ghavro_record_fn fn, void *arg, struct err *e)
{
    return decode(buf, len, true, fn, arg, e);
}
