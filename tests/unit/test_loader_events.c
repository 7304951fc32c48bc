/* Unit tests for tasks/lib/loader_events (the github_events pipeline of stream_loader): a good
 * record -> one row of 18 columns (actor/repo flattened, payload JSON text, created_at in UTC,
 * the source columns, record_index); a bad UUID, a bad date, an empty type and a payload with
 * \u0000 -> one dead letter per record holding the record as JSON, every problem named, the
 * good records of the same container still rows; payload texts from other writers (numbers
 * beyond numeric, bad escapes) -> dead letters with valid UTF-8 reasons; not Avro, a tombstone and
 * a cut container -> a dead letter of the message; a failing sink stops the parse; the pipeline
 * entry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <avro.h>

#include "ghavro.h"
#include "loader_events.h"
#include "tasktest.h"

#define UUID(n) "00000000-0000-4000-8000-00000000000" #n

/* A container of events (JSON texts) with event ids ids. */
static char *
container(const char *const *ids, const char *const *events, size_t n, size_t *len)
{
    struct err e = {0};
    struct ghavro_enc *w = ghavro_enc_new("deflate", &e);
    char *buf;

    assert_non_null(w);
    for (size_t i = 0; i < n; i++) {
        json_t *ev = json_loads(events[i], JSON_ALLOW_NUL, NULL);
        assert_non_null(ev);
        if (ghavro_enc_add(w, ids[i], ev, &e) != 0)
            fail_msg("add %zu: %s", i, e.msg);
        json_decref(ev);
    }
    assert_int_equal(ghavro_enc_finish(w, &buf, len, &e), 0);
    return buf;
}

static int
parse_bytes(const char *buf, size_t len, struct out *o)
{
    return pipeline_parse(&loader_events, "raw_metrics_avro", 1, 42, buf, len, o);
}

static const char GOOD[] =
    "{\"id\": \"26000000001\", \"type\": \"PushEvent\", \"actor\": {\"id\": 7, \"login\": \"ann\","
    " \"url\": \"https://api.github.com/users/ann\"}, \"repo\": {\"id\": 1099511627776,"
    " \"name\": \"o/r\"}, \"payload\": {\"ref\": \"main\", \"n\": 1.5}, \"public\": true,"
    " \"created_at\": \"2024-05-01T14:00:00+02:00\"}";

static void
test_good_record(void **state)
{
    const char *ids[] = {UUID(1)}, *events[] = {GOOD};
    static const char *const want[] = {
        UUID(1),
        "26000000001",
        "PushEvent",
        "7",
        "ann",
        "",
        "https://api.github.com/users/ann",
        "",
        "1099511627776",
        "o/r",
        "",
        "{\"ref\":\"main\",\"n\":1.5}",
        "t",
        "2024-05-01 12:00:00+00",
        "raw_metrics_avro",
        "1",
        "42",
        "0",
    };
    size_t len;
    char *buf, cell[128];
    struct out o = {0};

    (void)state;
    buf = container(ids, events, 1, &len);
    assert_int_equal(parse_bytes(buf, len, &o), 0);
    assert_int_equal(o.ndead, 0);
    assert_int_equal(o.nrows, 1);
    assert_int_equal(ncols(o.rows[0]), LOADER_EVENTS_COLUMNS + 4);
    for (int i = 0; i < LOADER_EVENTS_COLUMNS + 4; i++) {
        if (strcmp(col(o.rows[0], i, cell, sizeof(cell)), want[i]) != 0)
            fail_msg("column %d: '%s', want '%s'", i, cell, want[i]);
    }
    out_clear(&o);
    free(buf);
}

/* A payload holding a NUL character: JSON text jsonb refuses. */
static char *
nul_payload_event(void)
{
    json_t *ev = load("{\"id\": \"9\", \"type\": \"PushEvent\"}");
    char *text;

    json_object_set_new(ev, "payload", json_stringn("a\0b", 3));
    text = json_dumps(ev, 0);
    json_decref(ev);
    return text;
}

static void
test_bad_records(void **state)
{
    char *nul = nul_payload_event();
    const char *ids[] = {UUID(1), "not-a-uuid", UUID(3), UUID(4), UUID(5)};
    const char *events[] = {
        GOOD,
        "{\"id\": \"2\", \"type\": \"PushEvent\", \"created_at\": \"yesterday\"}",
        "{\"id\": \"3\", \"type\": \"PushEvent\", \"created_at\": \"2024-02-30T00:00:00Z\"}",
        nul,
        "{\"id\": \"5\", \"type\": \"WatchEvent\", \"created_at\": \"\"}",
    };
    size_t len;
    char *buf, cell[64];
    struct out o = {0};
    json_t *rec;

    (void)state;
    events[0] = "{\"id\": \"1\", \"type\": \"PushEvent\"}";
    buf = container(ids, events, 5, &len);
    assert_int_equal(parse_bytes(buf, len, &o), 0);
    assert_int_equal(o.nrows, 2);
    assert_string_equal(col(o.rows[1], 13, cell, sizeof(cell)), "\\N"); /* "" -> NULL */
    assert_string_equal(col(o.rows[1], 17, cell, sizeof(cell)), "4");
    assert_int_equal(o.ndead, 3);
    assert_non_null(strstr(o.dead_reason[0], "record 1: event_id: 'not-a-uuid' is not a UUID; "
                                             "created_at: bad timestamp 'yesterday': "));
    assert_non_null(strstr(o.dead_reason[1], "record 2: created_at: bad timestamp"));
    assert_non_null(strstr(o.dead_reason[2], "record 3: payload: not JSON"));
    rec = json_loadb(o.dead_raw[0], o.dead_len[0], 0, NULL);
    assert_non_null(rec);
    assert_string_equal(str(rec, "event_id"), "not-a-uuid");
    assert_string_equal(str(rec, "created_at"), "yesterday");
    json_decref(rec);
    out_clear(&o);
    free(buf);
    free(nul);
}

/* Set every field of generic value v from its schema: strings s, numbers 0, false, unions
 * their first branch (null). */
static void
fill(avro_value_t *v, const char *s)
{
    avro_value_t f;
    size_t n;

    switch (avro_value_get_type(v)) {
    case AVRO_RECORD:
        assert_int_equal(avro_value_get_size(v, &n), 0);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(avro_value_get_by_index(v, i, &f, NULL), 0);
            fill(&f, s);
        }
        break;
    case AVRO_STRING:
        assert_int_equal(avro_value_set_string(v, s), 0);
        break;
    case AVRO_UNION:
        assert_int_equal(avro_value_set_branch(v, 0, &f), 0);
        break;
    default:
        break;
    }
}

/* A container (libavro, our schema) of one record whose payload is the plen bytes at payload,
 * as a writer other than ours may send it; the other strings are "" and event_id a UUID. */
static char *
raw_payload_container(const char *payload, size_t plen, size_t *len)
{
    char *buf = NULL;
    FILE *fp = open_memstream(&buf, len);
    avro_schema_t schema;
    avro_value_iface_t *iface;
    avro_value_t rec, f, branch;
    avro_file_writer_t w;

    assert_int_equal(
        avro_schema_from_json_length(ghavro_schema_json, strlen(ghavro_schema_json), &schema), 0);
    iface = avro_generic_class_from_schema(schema);
    assert_int_equal(avro_generic_value_new(iface, &rec), 0);
    fill(&rec, "");
    assert_int_equal(avro_value_get_by_name(&rec, "event_id", &f, NULL), 0);
    assert_int_equal(avro_value_set_string(&f, UUID(7)), 0);
    assert_int_equal(avro_value_get_by_name(&rec, "type", &f, NULL), 0);
    assert_int_equal(avro_value_set_string(&f, "PushEvent"), 0);
    assert_int_equal(avro_value_get_by_name(&rec, "payload", &f, NULL), 0);
    assert_int_equal(avro_value_set_branch(&f, 1, &branch), 0);
    assert_int_equal(avro_value_set_string_len(&branch, payload, plen + 1), 0);
    assert_int_equal(avro_file_writer_create_with_codec_fp(fp, "t", 0, schema, &w, "null", 0), 0);
    assert_int_equal(avro_file_writer_append_value(w, &rec), 0);
    assert_int_equal(avro_file_writer_close(w), 0);
    fclose(fp);
    avro_value_decref(&rec);
    avro_value_iface_decref(iface);
    avro_schema_decref(schema);
    return buf;
}

/* Payload texts a jsonb column refuses are dead letters whose reason is valid UTF-8 (jansson
 * quotes "\u0" and half of the next character: found by fuzz_ghavro); the ones it takes
 * are rows. A NUL byte after a number passes jansson ("1\0" parses as 1) but not COPY: also
 * found by fuzz_ghavro. */
static void
test_payload_texts(void **state)
{
    static const struct {
        const char *payload, *want; /* want NULL: a row */
        size_t len;                 /* 0: strlen(payload) */
    } cases[] = {
        {"1\0", "record 0: payload: contains a NUL character", 2},
        {"{\"a\": [1, 2]}\0", "record 0: payload: contains a NUL character", 14},
        {"{\"s\": \"\\u0\xc3\x96\"}", "record 0: payload: not JSON: invalid escape near", 0},
        {"{\"n\": 1e-20000}", "payload: a number PostgreSQL's jsonb cannot hold", 0},
        {"{\"n\": 1e200000}", "payload: not JSON: real number overflow", 0},
        {"{\"s\": \"\\u0000\"}", "payload: not JSON: \\u0000 is not allowed", 0},
        {"[1, 2", "payload: not JSON", 0},
        {"{\"big\": 123456789012345678901234567890, \"tiny\": 1e-300, \"s\": \"\\u00e9\"}", NULL,
         0},
        {"\"just a string\"", NULL, 0},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len;
        char *buf = raw_payload_container(
            cases[i].payload, cases[i].len ? cases[i].len : strlen(cases[i].payload), &len);
        struct out o = {0};

        assert_int_equal(parse_bytes(buf, len, &o), 0);
        if (cases[i].want == NULL) {
            if (o.nrows != 1)
                fail_msg("%s refused: %s", cases[i].payload, o.ndead ? o.dead_reason[0] : "");
        } else {
            assert_int_equal(o.ndead, 1);
            assert_true(utf8_ok(o.dead_reason[0]));
            if (strstr(o.dead_reason[0], cases[i].want) == NULL)
                fail_msg("%s: '%s', want '%s'", cases[i].payload, o.dead_reason[0], cases[i].want);
        }
        out_clear(&o);
        free(buf);
    }
}

static void
test_bad_messages(void **state)
{
    const char *ids[] = {UUID(1)}, *events[] = {GOOD};
    size_t len;
    char *buf;
    struct out o = {0};

    (void)state;
    assert_int_equal(parse_bytes("{\"not\": \"avro\"}", 15, &o), 0);
    assert_int_equal(o.ndead, 1);
    assert_string_equal(o.dead_raw[0], "{\"not\": \"avro\"}");
    assert_non_null(strstr(o.dead_reason[0], "unreadable Avro container (after 0 records): "
                                             "not an Avro object container"));
    out_clear(&o);
    /* a header whose codec is not UTF-8: the reason quotes it as printable ASCII only */
    assert_int_equal(parse_bytes("Obj\x01\x02\x14"
                                 "avro.codec\x04\xff\xfe\x00"
                                 "0123456789abcdef",
                                 35, &o),
                     0);
    assert_int_equal(o.ndead, 1);
    assert_non_null(strstr(o.dead_reason[0], "header: codec '?"
                                             "?' (null or deflate expected)"));
    assert_true(utf8_ok(o.dead_reason[0]));
    out_clear(&o);
    assert_int_equal(parse_bytes(NULL, 0, &o), 0);
    assert_string_equal(o.dead_reason[0], "empty message");
    out_clear(&o);
    events[0] = "{\"id\": \"1\", \"type\": \"PushEvent\"}";
    buf = container(ids, events, 1, &len);
    assert_int_equal(parse_bytes(buf, len - 1, &o), 0);
    assert_int_equal(o.nrows, 0);
    assert_int_equal(o.ndead, 1);
    assert_int_equal(o.dead_len[0], len - 1);
    assert_non_null(strstr(o.dead_reason[0], "truncated"));
    out_clear(&o);
    o.fail = 1;
    assert_int_equal(parse_bytes(buf, len, &o), -1);
    assert_int_equal(parse_bytes("x", 1, &o), -1);
    free(buf);
}

static void
test_pipeline_entry(void **state)
{
    (void)state;
    assert_pipeline_names(&loader_events, "github_events", "raw_metrics_avro",
                          "github_events_bronze");
    assert_non_null(strstr(loader_events.prepare_sql, "TEMP TABLE github_events_batch"));
    assert_non_null(strstr(loader_events.prepare_sql, "ON COMMIT DROP"));
    assert_non_null(strstr(loader_events.copy_sql, "COPY github_events_batch ("));
    assert_string_equal(loader_events.finish_sql, "SELECT bronze.ingest_batch()");
    assert_non_null(strstr(loader_events.dead_letter_sql, "bronze.github_events_dead_letters"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_record),    cmocka_unit_test(test_bad_records),
        cmocka_unit_test(test_payload_texts),  cmocka_unit_test(test_bad_messages),
        cmocka_unit_test(test_pipeline_entry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
