/* ghavro: GitHub events <-> Avro object containers (see ghavro.h for the record).
 *
 * Encoding: libavro's file writer on an open_memstream FILE, one generic record value refilled
 * per event. Decoding: libavro's file reader on an fmemopen FILE, every record read
 * generically with the WRITER's schema and then matched, field by field, against ours, so a
 * container written with another schema yields per-record problems, not garbage.
 *
 * Key invariant: libavro only ever sees bytes this module has already checked. libavro 1.11
 * trusts its input (a block size or string length from the bytes goes straight to malloc, a
 * failed block decompression is ignored, an empty block or a container without blocks makes
 * it fail or misread, a recursive schema recurses without bound), so ghavro_decode first walks
 * the container's framing itself (magic, header map, codec, schema, every block's count, size
 * and sync marker) and hands libavro only the prefix of whole, well-framed blocks; allocations
 * above GHAVRO_ALLOC_MAX are refused by the allocator installed here, which bounds what a
 * hostile string length or a deflate bomb can ask for. */
#include "ghavro.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <avro.h>

#define GHAVRO_BLOCK_SIZE (1 << 20)         /* the encoder's block: the largest event it takes */
#define GHAVRO_ALLOC_MAX ((size_t)64 << 20) /* the largest single allocation libavro may make */
#define GHAVRO_SCHEMA_DEPTH 16              /* deeper (or recursive) writer schemas are refused */

const char ghavro_schema_json[] =
    "{\"type\": \"record\", \"name\": \"GitHubEvent\", \"namespace\": \"gust\", \"fields\": ["
    "{\"name\": \"event_id\", \"type\": \"string\"},"
    "{\"name\": \"id\", \"type\": \"string\"},"
    "{\"name\": \"type\", \"type\": \"string\"},"
    "{\"name\": \"actor\", \"type\": {\"type\": \"record\", \"name\": \"Actor\", \"fields\": ["
    "{\"name\": \"id\", \"type\": \"long\"},"
    "{\"name\": \"login\", \"type\": \"string\"},"
    "{\"name\": \"gravatar_id\", \"type\": \"string\"},"
    "{\"name\": \"url\", \"type\": \"string\"},"
    "{\"name\": \"avatar_url\", \"type\": \"string\"}]}},"
    "{\"name\": \"repo\", \"type\": {\"type\": \"record\", \"name\": \"Repo\", \"fields\": ["
    "{\"name\": \"id\", \"type\": \"long\"},"
    "{\"name\": \"name\", \"type\": \"string\"},"
    "{\"name\": \"url\", \"type\": \"string\"}]}},"
    "{\"name\": \"payload\", \"type\": [\"null\", \"string\"], \"default\": null},"
    "{\"name\": \"public\", \"type\": \"boolean\"},"
    "{\"name\": \"created_at\", \"type\": \"string\"}]}";

/* The string fields of the nested records, in schema order (their id comes first). */
static const char *const actor_strings[] = {"login", "gravatar_id", "url", "avatar_url", NULL};
static const char *const repo_strings[] = {"name", "url", NULL};

/* ---- libavro's allocator ------------------------------------------------------------- */

/* realloc/free as libavro's default allocator does, refusing sizes above GHAVRO_ALLOC_MAX
 * (libavro then reports ENOMEM). Memory allocated before it was installed is compatible. */
static void *
bounded_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    (void)ud;
    (void)osize;
    if (nsize == 0) {
        free(ptr);
        return NULL;
    }
    if (nsize > GHAVRO_ALLOC_MAX)
        return NULL;
    return realloc(ptr, nsize);
}

static pthread_once_t alloc_once = PTHREAD_ONCE_INIT;

static void
install_alloc(void)
{
    avro_set_allocator(bounded_alloc, NULL);
}

static void
avro_setup(void)
{
    pthread_once(&alloc_once, install_alloc);
}

/* ---- checking a JSON event ------------------------------------------------------------ */

/* An optional string: absent, null or a string without NUL characters. */
static int
check_text(const json_t *v, const char *name, char *why, size_t whylen)
{
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v)) {
        snprintf(why, whylen, "%s: not a string", name);
        return -1;
    }
    if (strlen(json_string_value(v)) != json_string_length(v)) {
        snprintf(why, whylen, "%s: contains a NUL character", name);
        return -1;
    }
    return 0;
}

/* actor or repo: absent, null, or an object whose id is an integer and whose strings are
 * strings. */
static int
check_nested(const json_t *event, const char *name, const char *const *strings, char *why,
             size_t whylen)
{
    const json_t *o = json_object_get(event, name);
    const json_t *id;
    char path[64];

    if (o == NULL || json_is_null(o))
        return 0;
    if (!json_is_object(o)) {
        snprintf(why, whylen, "%s: not an object", name);
        return -1;
    }
    id = json_object_get(o, "id");
    if (id != NULL && !json_is_null(id) && !json_is_integer(id)) {
        snprintf(why, whylen, "%s.id: not an integer", name);
        return -1;
    }
    for (; *strings; strings++) {
        snprintf(path, sizeof(path), "%s.%s", name, *strings);
        if (check_text(json_object_get(o, *strings), path, why, whylen) < 0)
            return -1;
    }
    return 0;
}

int
ghavro_check(const json_t *event, char *why, size_t whylen)
{
    const json_t *id = json_object_get(event, "id");
    const json_t *type = json_object_get(event, "type");
    const json_t *pub = json_object_get(event, "public");

    if (!json_is_object(event)) {
        snprintf(why, whylen, "the event is not a JSON object");
        return -1;
    }
    if (!json_is_string(type) || json_string_length(type) == 0) {
        snprintf(why, whylen, "type: %s", type == NULL ? "missing" : "not a non-empty string");
        return -1;
    }
    if (id == NULL || !(json_is_string(id) || json_is_integer(id)) ||
        (json_is_string(id) && json_string_length(id) == 0)) {
        snprintf(why, whylen, "id: %s",
                 id == NULL ? "missing" : "not a non-empty string or an integer");
        return -1;
    }
    if (check_text(type, "type", why, whylen) < 0 ||
        (json_is_string(id) && check_text(id, "id", why, whylen) < 0) ||
        check_nested(event, "actor", actor_strings, why, whylen) < 0 ||
        check_nested(event, "repo", repo_strings, why, whylen) < 0 ||
        check_text(json_object_get(event, "created_at"), "created_at", why, whylen) < 0)
        return -1;
    if (pub != NULL && !json_is_null(pub) && !json_is_boolean(pub)) {
        snprintf(why, whylen, "public: not a boolean");
        return -1;
    }
    return 0;
}

/* ---- encoding --------------------------------------------------------------------------- */

struct ghavro_enc {
    FILE *fp; /* open_memstream over buf/len */
    char *buf;
    size_t len;
    avro_schema_t schema;
    avro_value_iface_t *iface;
    avro_value_t rec;
    bool have_rec;
    avro_file_writer_t writer;
    size_t n; /* records appended */
};

/* libavro's last error after what, into e. */
static int
avro_fail(struct err *e, enum err_code code, const char *what)
{
    return err_set(e, code, "%s: %s", what, avro_strerror());
}

struct ghavro_enc *
ghavro_enc_new(const char *codec, struct err *e)
{
    struct ghavro_enc *w;

    if (codec == NULL)
        codec = "deflate";
    if (strcmp(codec, "deflate") != 0 && strcmp(codec, "null") != 0) {
        err_set(e, ERR_USAGE, "avro codec '%s': deflate or null expected", codec);
        return NULL;
    }
    avro_setup();
    if ((w = calloc(1, sizeof(*w))) == NULL) {
        err_set(e, ERR_FAIL, "avro container: out of memory");
        return NULL;
    }
    if ((w->fp = open_memstream(&w->buf, &w->len)) == NULL) {
        err_set(e, ERR_FAIL, "avro container: open_memstream: %s", strerror(errno));
        goto fail;
    }
    if (avro_schema_from_json_length(ghavro_schema_json, sizeof(ghavro_schema_json) - 1,
                                     &w->schema) != 0) {
        avro_fail(e, ERR_FAIL, "avro schema");
        goto fail;
    }
    if ((w->iface = avro_generic_class_from_schema(w->schema)) == NULL ||
        avro_generic_value_new(w->iface, &w->rec) != 0) {
        avro_fail(e, ERR_FAIL, "avro record");
        goto fail;
    }
    w->have_rec = true;
    if (avro_file_writer_create_with_codec_fp(w->fp, "memory", 0, w->schema, &w->writer, codec,
                                              GHAVRO_BLOCK_SIZE) != 0) {
        w->writer = NULL;
        avro_fail(e, ERR_FAIL, "avro container");
        goto fail;
    }
    return w;
fail:
    ghavro_enc_free(w);
    return NULL;
}

/* Set the string field name of rec to v (a JSON string, an integer as its decimal text, or
 * "" when absent or null). */
static int
set_text(avro_value_t *rec, const char *name, const json_t *v)
{
    avro_value_t f;
    char num[32];
    const char *s = "";

    if (json_is_string(v))
        s = json_string_value(v);
    else if (json_is_integer(v)) {
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        s = num;
    }
    if (avro_value_get_by_name(rec, name, &f, NULL) != 0)
        return -1;
    return avro_value_set_string(&f, s);
}

/* actor or repo: id (0 when absent) and its strings. */
static int
set_nested(avro_value_t *rec, const char *name, const json_t *o, const char *const *strings)
{
    avro_value_t sub, f;

    if (avro_value_get_by_name(rec, name, &sub, NULL) != 0 ||
        avro_value_get_by_name(&sub, "id", &f, NULL) != 0 ||
        avro_value_set_long(&f, json_integer_value(json_object_get(o, "id"))) != 0)
        return -1;
    for (; *strings; strings++)
        if (set_text(&sub, *strings, json_object_get(o, *strings)) != 0)
            return -1;
    return 0;
}

/* payload: null when absent or null, else its compact JSON text. */
static int
set_payload(avro_value_t *rec, const json_t *payload)
{
    avro_value_t f, branch;
    char *text;
    int rc;

    if (avro_value_get_by_name(rec, "payload", &f, NULL) != 0)
        return -1;
    if (payload == NULL || json_is_null(payload)) {
        if (avro_value_set_branch(&f, 0, &branch) != 0)
            return -1;
        return avro_value_set_null(&branch);
    }
    if ((text = json_dumps(payload, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL) {
        avro_set_error("payload: cannot be written as JSON");
        return -1;
    }
    rc = avro_value_set_branch(&f, 1, &branch) != 0 ? -1 : avro_value_set_string(&branch, text);
    free(text);
    return rc;
}

/* Fill w->rec from event (already checked). */
static int
fill_record(struct ghavro_enc *w, const char *event_id, const json_t *event)
{
    avro_value_t f;
    json_t *eid = json_string(event_id);
    int rc;

    if (eid == NULL) {
        avro_set_error("event_id: not valid UTF-8");
        return -1;
    }
    rc = set_text(&w->rec, "event_id", eid);
    json_decref(eid);
    if (rc != 0 || set_text(&w->rec, "id", json_object_get(event, "id")) != 0 ||
        set_text(&w->rec, "type", json_object_get(event, "type")) != 0 ||
        set_nested(&w->rec, "actor", json_object_get(event, "actor"), actor_strings) != 0 ||
        set_nested(&w->rec, "repo", json_object_get(event, "repo"), repo_strings) != 0 ||
        set_payload(&w->rec, json_object_get(event, "payload")) != 0 ||
        set_text(&w->rec, "created_at", json_object_get(event, "created_at")) != 0 ||
        avro_value_get_by_name(&w->rec, "public", &f, NULL) != 0)
        return -1;
    return avro_value_set_boolean(&f, json_is_true(json_object_get(event, "public")));
}

int
ghavro_enc_add(struct ghavro_enc *w, const char *event_id, const json_t *event, struct err *e)
{
    char why[200];

    if (ghavro_check(event, why, sizeof(why)) < 0)
        return err_set(e, ERR_PARSE, "event %zu: %s", w->n, why);
    avro_value_reset(&w->rec);
    if (fill_record(w, event_id, event) != 0)
        return avro_fail(e, ERR_PARSE, "event");
    if (avro_file_writer_append_value(w->writer, &w->rec) != 0)
        return err_set(e, ERR_PARSE, "event %zu: %s (an event must encode to at most %d bytes)",
                       w->n, avro_strerror(), GHAVRO_BLOCK_SIZE);
    w->n++;
    return 0;
}

int
ghavro_enc_finish(struct ghavro_enc *w, char **buf, size_t *len, struct err *e)
{
    int rc = 0;
    avro_file_writer_t writer = w->writer;

    *buf = NULL;
    *len = 0;
    w->writer = NULL;
    if (avro_file_writer_close(writer) != 0)
        rc = avro_fail(e, ERR_FAIL, "avro container");
    if (fclose(w->fp) != 0 && rc == 0)
        rc = err_set(e, ERR_FAIL, "avro container: %s", strerror(errno));
    w->fp = NULL;
    if (rc == 0) {
        *buf = w->buf;
        *len = w->len;
        w->buf = NULL;
    }
    ghavro_enc_free(w);
    return rc;
}

void
ghavro_enc_free(struct ghavro_enc *w)
{
    if (w == NULL)
        return;
    if (w->writer)
        avro_file_writer_close(w->writer);
    if (w->fp)
        fclose(w->fp);
    free(w->buf);
    if (w->have_rec)
        avro_value_decref(&w->rec);
    if (w->iface)
        avro_value_iface_decref(w->iface);
    if (w->schema)
        avro_schema_decref(w->schema);
    free(w);
}

/* ---- decoding: the container's framing, checked before libavro sees it ------------------ */

/* What the framing walk found. */
struct frame {
    const unsigned char *p;
    size_t len, pos;
    const char *schema; /* the avro.schema bytes, in p */
    size_t schema_len;
    char codec[16];
    unsigned char sync[16];
    size_t good_end;   /* the end of the last well-framed block (the header's end if none) */
    size_t nblocks;    /* well-framed blocks */
    size_t nrecords;   /* records they announce */
    char problem[200]; /* where the framing broke; "" when it held to the end */
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
        if (f->codec[0])
            return err_set(e, ERR_PARSE, "header: avro.codec given twice");
        if ((vn == 4 && memcmp(v, "null", 4) == 0) || (vn == 7 && memcmp(v, "deflate", 7) == 0))
            memcpy(f->codec, v, vn);
        else
            return err_set(e, ERR_PARSE, "header: codec '%.*s' (null or deflate expected)",
                           vn > 20 ? 20 : (int)vn, v);
    }
    return 0;
}

/* Magic, metadata map (avro.schema and avro.codec required) and sync marker. */
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
    if (!f->codec[0])
        return err_set(e, ERR_PARSE, "header: no avro.codec");
    if (f->len - f->pos < sizeof(f->sync))
        return err_set(e, ERR_PARSE, "header: truncated before its sync marker");
    memcpy(f->sync, f->p + f->pos, sizeof(f->sync));
    f->pos += sizeof(f->sync);
    f->good_end = f->pos;
    return 0;
}

/* The blocks after the header, up to the first one that is not whole and well framed
 * (described in f->problem). */
static void
frame_blocks(struct frame *f)
{
    while (f->pos < f->len) {
        size_t at = f->pos, left;
        int64_t count, size;

        if (read_long(f, &count) < 0 || read_long(f, &size) < 0) {
            snprintf(f->problem, sizeof(f->problem), "block %zu at byte %zu: truncated header",
                     f->nblocks, at);
            return;
        }
        left = f->len - f->pos;
        if (size < 0 || (uint64_t)size > left || left - (size_t)size < sizeof(f->sync)) {
            snprintf(f->problem, sizeof(f->problem),
                     "block %zu at byte %zu: truncated (%" PRId64 " bytes announced, %zu left)",
                     f->nblocks, at, size, left);
            return;
        }
        /* an empty block confuses libavro; a record takes at least one byte (at most ~1032
         * once deflated) */
        if (count <= 0 || count > (int64_t)(size ? size : 1) * (f->codec[0] == 'd' ? 1100 : 1)) {
            snprintf(f->problem, sizeof(f->problem),
                     "block %zu at byte %zu: %" PRId64 " records cannot be in %" PRId64 " bytes",
                     f->nblocks, at, count, size);
            return;
        }
        f->pos += (size_t)size;
        if (memcmp(f->p + f->pos, f->sync, sizeof(f->sync)) != 0) {
            snprintf(f->problem, sizeof(f->problem),
                     "block %zu at byte %zu: sync marker does not match the header's", f->nblocks,
                     at);
            return;
        }
        f->pos += sizeof(f->sync);
        f->good_end = f->pos;
        f->nblocks++;
        f->nrecords += (size_t)count;
    }
}

/* Whether schema s, expanded, stays within GHAVRO_SCHEMA_DEPTH levels and *budget nodes (a
 * recursive schema never does). */
static bool
schema_bounded(avro_schema_t s, int depth, int *budget)
{
    size_t n;

    if (depth > GHAVRO_SCHEMA_DEPTH || --*budget < 0)
        return false;
    switch (avro_typeof(s)) {
    case AVRO_RECORD:
        n = avro_schema_record_size(s);
        for (size_t i = 0; i < n; i++)
            if (!schema_bounded(avro_schema_record_field_get_by_index(s, (int)i), depth + 1,
                                budget))
                return false;
        return true;
    case AVRO_UNION:
        n = avro_schema_union_size(s);
        for (size_t i = 0; i < n; i++)
            if (!schema_bounded(avro_schema_union_branch(s, (int)i), depth + 1, budget))
                return false;
        return true;
    case AVRO_ARRAY:
        return schema_bounded(avro_schema_array_items(s), depth + 1, budget);
    case AVRO_MAP:
        return schema_bounded(avro_schema_map_values(s), depth + 1, budget);
    case AVRO_LINK:
        return schema_bounded(avro_schema_link_target(s), depth + 1, budget);
    default:
        return true;
    }
}

/* The writer's schema: valid, a record, bounded. */
static int
frame_schema(const struct frame *f, struct err *e)
{
    avro_schema_t s;
    int budget = 2000;
    int rc = 0;

    if (avro_schema_from_json_length(f->schema, f->schema_len, &s) != 0)
        return avro_fail(e, ERR_PARSE, "header: avro.schema");
    if (!is_avro_record(s))
        rc = err_set(e, ERR_PARSE, "header: the writer schema is a %s, not a record",
                     avro_schema_type_name(s));
    else if (!schema_bounded(s, 0, &budget))
        rc = err_set(e, ERR_PARSE, "header: the writer schema is recursive or too large");
    avro_schema_decref(s);
    return rc;
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

/* ---- decoding: the records ------------------------------------------------------------- */

/* What one pass over the records needs. */
struct reading {
    avro_file_reader_t reader;
    avro_value_iface_t *iface;
    avro_value_t value;
    bool have_value;
};

static void
reading_close(struct reading *r)
{
    if (r->have_value)
        avro_value_decref(&r->value);
    if (r->iface)
        avro_value_iface_decref(r->iface);
    if (r->reader) {
        /* libavro 1.11 opens the reader holding two references to the writer schema and
         * drops one at close: the second one is ours to drop (newer versions hold one). */
        avro_schema_t s = avro_file_reader_get_writer_schema(r->reader);
        bool extra = s != NULL && s->refcount > 1;
        avro_file_reader_close(r->reader);
        if (extra)
            avro_schema_decref(s);
    }
}

/* Open libavro's reader on the first len (well-framed) bytes of buf. */
static int
reading_open(struct reading *r, const void *buf, size_t len, struct err *e)
{
    FILE *fp = fmemopen((void *)buf, len, "rb");

    if (fp == NULL)
        return err_set(e, ERR_FAIL, "fmemopen: %s", strerror(errno));
    if (avro_file_reader_fp(fp, "message", 1, &r->reader) != 0) {
        r->reader = NULL;
        return avro_fail(e, ERR_PARSE, "avro container");
    }
    if ((r->iface = avro_generic_class_from_schema(
             avro_file_reader_get_writer_schema(r->reader))) == NULL ||
        avro_generic_value_new(r->iface, &r->value) != 0)
        return avro_fail(e, ERR_PARSE, "writer schema");
    r->have_value = true;
    return 0;
}

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

/* Read f->nrecords records and pass each to fn (with raw: a bad one as written): 0, 1 when
 * libavro could not read one (e set), -1 when fn stopped. */
static int
read_records(const struct frame *f, bool raw, ghavro_record_fn fn, void *arg, struct err *e)
{
    struct reading r = {0};
    char why[200], problem[256];
    int rc = 0;

    if (reading_open(&r, f->p, f->good_end, e) < 0) {
        reading_close(&r);
        return 1;
    }
    for (size_t i = 0; i < f->nrecords && rc == 0; i++) {
        json_t *rec;
        avro_value_reset(&r.value);
        if (avro_file_reader_read_value(r.reader, &r.value) != 0) {
            rc = 1;
            avro_fail(e, ERR_PARSE, "avro container");
            err_prefix(e, "record %zu", i);
            break;
        }
        if ((rec = record_json(&r.value, why, sizeof(why))) != NULL) {
            rc = fn(arg, i, rec, NULL, e) < 0 ? -1 : 0;
        } else {
            snprintf(problem, sizeof(problem), "record %zu: %s", i, why);
            rec = raw ? raw_json(&r.value) : NULL;
            rc = fn(arg, i, rec, problem, e) < 0 ? -1 : 0;
        }
        json_decref(rec);
    }
    reading_close(&r);
    return rc;
}

static int
decode(const void *buf, size_t len, bool raw, ghavro_record_fn fn, void *arg, struct err *e)
{
    struct frame f = {.p = buf, .len = len};
    int rc;

    avro_setup();
    if (len == 0)
        return err_set(e, ERR_PARSE, "empty message: not an Avro object container"), 1;
    if (frame_header(&f, e) < 0 || frame_schema(&f, e) < 0)
        return 1;
    frame_blocks(&f);
    rc = f.nblocks > 0 ? read_records(&f, raw, fn, arg, e) : 0;
    if (rc == 0 && f.problem[0]) {
        err_set(e, ERR_PARSE, "%s (after %zu records)", f.problem, f.nrecords);
        rc = 1;
    }
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
