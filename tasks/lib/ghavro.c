/* ghavro: GitHub events as Avro, the writing half (see ghavro.h for the record): the schema,
 * ghavro_check and the encoder; ghavro_decode.c reads containers back.
 *
 * Encoding: libavro's file writer on an open_memstream FILE, one generic record value refilled
 * per event, blocks of up to GHAVRO_BLOCK_SIZE bytes (a larger event is refused with a clear
 * error rather than libavro's "Value too large for file block size").
 *
 * libavro allocates through one process-wide allocator; ghavro_setup installs one that
 * refuses single allocations above GHAVRO_ALLOC_MAX, so a hostile length in a container can
 * make libavro fail but not exhaust memory. */
#include "ghavro.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <avro.h>

#define GHAVRO_BLOCK_SIZE (1 << 20) /* the encoder's block: the largest event it takes */

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

void
ghavro_setup(void)
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
    ghavro_setup();
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
