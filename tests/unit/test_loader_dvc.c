/* Unit tests for tasks/lib/loader_dvc (the dvc pipeline of stream_loader; its timestamps are
 * tested with common/iso8601 in test_common.c): a full record -> every one of the 29 columns plus
 * the source columns; nulls and missing fields; soDangKy missing or blank; numbers as strings,
 * integral reals, ranges; page vs single object; bad JSON, invalid UTF-8, empty messages, scalars;
 * a bad record inside a good page dead-lettered alone with its own JSON; sink errors stop the
 * parse. The fast path (jsonflat_scan) against jansson's: which messages it takes, its values, and
 * the same rows and dead letters as the jansson-only pipeline on edge cases and on thousands
 * of mutations (truncations, byte changes, deletions) of a plain record. The COPY row
 * builder's escapes at every position of short and long values, and its refusal of NUL.
 * Also kq_check_offset, the loader's data-loss check, which the Kafka mock cannot provoke
 * through the loader (its log always starts at 0). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonflat.h"
#include "kafka.h"
#include "loader_dvc.h"
#include "tasktest.h"

/* Parse value (len -1: strlen) as message offset 42 of all_data [3]; returns parse's rc. */
static int
parse_len(const char *value, long len, struct out *o)
{
    return pipeline_parse(&loader_dvc, "all_data", 3, 42, value,
                          len < 0 ? (value ? strlen(value) : 0) : (size_t)len, o);
}

static int
parse(const char *value, struct out *o)
{
    return parse_len(value, -1, o);
}

/* ---- records ---- */

#define FULL_RECORD                                                                                \
    "{\"idThuoc\": 20002, \"soDangKy\": \"VN-10000-22\", \"soDangKyCu\": \"VN-9999-18\", "         \
    "\"tenThuoc\": \"Imex Omeprazol 20mg\", \"phanLoaiThuocEnum\": 3, \"congTyDangKyId\": 112, "   \
    "\"congTySanXuatId\": \"122\", \"creationTime\": \"2022-02-25T08:13:38.379+07:00\", "          \
    "\"lastModificationTime\": \"2025-12-01T22:00:51.22+07:00\", "                                 \
    "\"tenCongTyDangKy\": \"Công ty cổ phần Sanofi Việt Nam\", "                            \
    "\"diaChiDangKy\": \"Lô I-8-2, đường D8\", \"nuocDangKy\": \"Việt Nam\", "              \
    "\"tenCongTySanXuat\": \"Lek d.d.\", \"diaChiSanXuat\": \"Verovškova 57\", "                  \
    "\"nuocSanXuat\": \"Slovenia\", \"fullAddress\": \"Verovškova 57, Slovenia\", "               \
    "\"dotCap\": \"180\", \"ngayCapSoDangKy\": \"2022-02-08T00:00:00+07:00\", "                    \
    "\"ngayHetHanSoDangKy\": \"2027-02-07T00:00:00+07:00\", \"ngayGiaHanSoDangKy\": null, "        \
    "\"soQuyetDinh\": \"900/QĐ-QLD\", \"thongTinRutSoDangKy\": \"https://x.example/r.pdf\", "     \
    "\"dangBaoChe\": \"Viên nang\\tcứng\", \"dongGoi\": \"Hộp 3 vỉ x 10 viên\\nlọ\", "   \
    "\"hamLuong\": \"20mg\", \"hoatChatChinh\": \"Omeprazol\", \"tieuChuan\": \"TCCS\", "          \
    "\"tieuChuanId\": 7, \"tuoiTho\": \"36 tháng\", \"unknownField\": {\"x\": 1}}"

static const char *const full_cols[] = {
    "20002",
    "VN-10000-22",
    "VN-9999-18",
    "Imex Omeprazol 20mg",
    "3",
    "112",
    "122",
    "2022-02-25 01:13:38.379+00",
    "2025-12-01 15:00:51.22+00",
    "Công ty cổ phần Sanofi Việt Nam",
    "Lô I-8-2, đường D8",
    "Việt Nam",
    "Lek d.d.",
    "Verovškova 57",
    "Slovenia",
    "Verovškova 57, Slovenia",
    "180",
    "2022-02-07 17:00:00+00",
    "2027-02-06 17:00:00+00",
    "\\N",
    "900/QĐ-QLD",
    "https://x.example/r.pdf",
    "Viên nang\\tcứng", /* COPY text escapes */
    "Hộp 3 vỉ x 10 viên\\nlọ",
    "20mg",
    "Omeprazol",
    "TCCS",
    "7",
    "36 tháng",
    "all_data",
    "3",
    "42",
};

static void
check_full_row(const char *row)
{
    char buf[256];

    assert_int_equal(ncols(row), LOADER_DVC_COLUMNS + 3);
    for (int i = 0; i < LOADER_DVC_COLUMNS + 3; i++)
        if (strcmp(col(row, i, buf, sizeof(buf)), full_cols[i]) != 0)
            fail_msg("column %d (%s): '%s', want '%s'", i,
                     loader_dvc_field(i) ? loader_dvc_field(i) : "source", buf, full_cols[i]);
}

static void
test_record_every_column(void **state)
{
    struct out o = {0};

    (void)state;
    assert_int_equal(parse(FULL_RECORD, &o), 0);
    assert_int_equal(o.ndead, 0);
    assert_int_equal(o.nrows, 1);
    check_full_row(o.rows[0]);
    assert_string_equal(loader_dvc_field(0), "idThuoc");
    assert_string_equal(loader_dvc_field(28), "tuoiTho");
    assert_null(loader_dvc_field(29));
    out_clear(&o);
}

static void
test_page_and_object_agree(void **state)
{
    struct out o = {0};

    (void)state;
    assert_int_equal(parse("[" FULL_RECORD ", " FULL_RECORD "]", &o), 0);
    assert_int_equal(o.ndead, 0);
    assert_int_equal(o.nrows, 2);
    check_full_row(o.rows[0]);
    check_full_row(o.rows[1]);
    out_clear(&o);
    assert_int_equal(parse("[]", &o), 0);
    assert_int_equal(o.nrows + o.ndead, 0);
    out_clear(&o);
    assert_int_equal(parse("  \n" FULL_RECORD "\n", &o), 0);
    assert_int_equal(o.nrows, 1);
    out_clear(&o);
}

static void
test_record_nulls(void **state)
{
    struct out o = {0};
    char buf[64];

    (void)state;
    assert_int_equal(parse("{\"soDangKy\": \"A-1\", \"idThuoc\": null, \"tenThuoc\": null, "
                           "\"creationTime\": null, \"lastModificationTime\": \"\", "
                           "\"congTyDangKyId\": \"\", \"tieuChuanId\": \"  \"}",
                           &o),
                     0);
    assert_int_equal(o.ndead, 0);
    assert_int_equal(o.nrows, 1);
    for (int i = 0; i < LOADER_DVC_COLUMNS; i++)
        assert_string_equal(col(o.rows[0], i, buf, sizeof(buf)), i == 1 ? "A-1" : "\\N");
    out_clear(&o);
}

/* One record refused: its reason must contain want. */
static void
refused(const char *json, const char *want)
{
    struct out o = {0};

    assert_refused(parse(json, &o), &o, json, want);
    out_clear(&o);
}

static void
test_record_sodangky(void **state)
{
    (void)state;
    refused("{\"tenThuoc\": \"x\"}", "soDangKy missing");
    refused("{\"soDangKy\": null}", "soDangKy missing");
    refused("{\"soDangKy\": \"\"}", "soDangKy empty");
    refused("{\"soDangKy\": \" \\t \"}", "soDangKy empty");
    refused("{\"soDangKy\": {\"a\": 1}}", "soDangKy: text expected, got an object");
    refused("{\"sodangky\": \"A-1\"}", "soDangKy missing"); /* names are the camelCase ones */
}

static void
test_record_numbers(void **state)
{
    struct out o = {0};
    char buf[64];

    (void)state;
    assert_int_equal(parse("{\"soDangKy\": \"A\", \"idThuoc\": \" 20002 \", \"phanLoaiThuocEnum\": "
                           "\"-3\", \"congTyDangKyId\": 5.0, \"congTySanXuatId\": "
                           "9223372036854775807, \"tieuChuanId\": \"+7\", \"dotCap\": 180}",
                           &o),
                     0);
    assert_int_equal(o.nrows, 1);
    assert_string_equal(col(o.rows[0], 0, buf, sizeof(buf)), "20002");
    assert_string_equal(col(o.rows[0], 4, buf, sizeof(buf)), "-3");
    assert_string_equal(col(o.rows[0], 5, buf, sizeof(buf)), "5");
    assert_string_equal(col(o.rows[0], 6, buf, sizeof(buf)), "9223372036854775807");
    assert_string_equal(col(o.rows[0], 27, buf, sizeof(buf)), "7");
    assert_string_equal(col(o.rows[0], 16, buf, sizeof(buf)), "180"); /* text from a number */
    out_clear(&o);
    refused("{\"soDangKy\": \"A\", \"idThuoc\": \"12abc\"}", "idThuoc: '12abc' is not an integer");
    refused("{\"soDangKy\": \"A\", \"idThuoc\": \"0x10\"}", "is not an integer");
    refused("{\"soDangKy\": \"A\", \"idThuoc\": 2.5}", "idThuoc: 2.5 is not an integer");
    refused("{\"soDangKy\": \"A\", \"idThuoc\": true}", "integer expected, got a boolean");
    refused("{\"soDangKy\": \"A\", \"phanLoaiThuocEnum\": 3000000000}", "out of range");
    refused("{\"soDangKy\": \"A\", \"idThuoc\": \"99999999999999999999\"}", "not an integer");
    refused("{\"soDangKy\": \"A\", \"tenThuoc\": [1]}", "tenThuoc: text expected, got an array");
}

/* A quoted value is cut at a character boundary: a reason with half a UTF-8 character would
 * make PostgreSQL refuse the dead letter (and the batch, on every retry). */
static void
test_reason_utf8_cut(void **state)
{
    struct out o = {0};
    json_t *reason;
    char json[256] = "{\"soDangKy\": \"A\", \"idThuoc\": \"x";

    (void)state;
    for (int i = 0; i < 30; i++)
        strcat(json, "\xc3\xa9"); /* é, two bytes: the 40-byte cut falls inside one */
    strcat(json, "\"}");
    assert_int_equal(parse(json, &o), 0);
    assert_int_equal(o.ndead, 1);
    reason = json_stringn(o.dead_reason[0], strlen(o.dead_reason[0])); /* NULL unless UTF-8 */
    assert_non_null(reason);
    json_decref(reason);
    out_clear(&o);
}

static void
test_record_bad_dates(void **state)
{
    (void)state;
    refused("{\"soDangKy\": \"A\", \"lastModificationTime\": \"2025-02-30T00:00:00+07:00\"}",
            "lastModificationTime: bad timestamp '2025-02-30T00:00:00+07:00': no such date");
    refused("{\"soDangKy\": \"A\", \"creationTime\": \"2025-12-01T22:00:51\"}",
            "creationTime: bad timestamp '2025-12-01T22:00:51': no UTC offset");
    refused("{\"soDangKy\": \"A\", \"ngayCapSoDangKy\": 20250101}",
            "ngayCapSoDangKy: timestamp expected, got a number");
    /* every problem of the record is named */
    refused("{\"ngayHetHanSoDangKy\": \"soon\", \"idThuoc\": \"x\"}",
            "idThuoc: 'x' is not an integer; soDangKy missing; ngayHetHanSoDangKy: bad timestamp");
}

static void
test_bad_record_in_good_page(void **state)
{
    struct out o = {0};

    (void)state;
    assert_int_equal(parse("[" FULL_RECORD ", {\"soDangKy\": \"B-2\", \"lastModificationTime\": "
                           "\"2025-13-01T00:00:00+07:00\"}, 17, " FULL_RECORD "]",
                           &o),
                     0);
    assert_int_equal(o.nrows, 2);
    check_full_row(o.rows[0]);
    check_full_row(o.rows[1]);
    assert_int_equal(o.ndead, 2);
    assert_non_null(strstr(o.dead_reason[0], "item 1: lastModificationTime: bad timestamp"));
    /* the payload is the record's own JSON, not the page */
    assert_string_equal(
        o.dead_raw[0],
        "{\"soDangKy\":\"B-2\",\"lastModificationTime\":\"2025-13-01T00:00:00+07:00\"}");
    assert_string_equal(o.dead_reason[1], "item 2: not a JSON object");
    assert_string_equal(o.dead_raw[1], "17");
    out_clear(&o);
}

static void
test_bad_messages(void **state)
{
    struct out o = {0};
    static const char bad_utf8[] = "{\"soDangKy\": \"A\xff\"}";
    static const char nul[] = "{\"soDangKy\": \"A\\u0000B\"}";

    (void)state;
    assert_int_equal(parse("not json at all", &o), 0);
    assert_int_equal(o.ndead, 1);
    assert_non_null(strstr(o.dead_reason[0], "bad JSON"));
    assert_string_equal(o.dead_raw[0], "not json at all"); /* the raw payload */
    out_clear(&o);
    assert_int_equal(parse("[{\"soDangKy\": \"A\"}", &o), 0); /* truncated page */
    assert_true(o.ndead == 1 && o.nrows == 0);
    out_clear(&o);
    assert_int_equal(parse(bad_utf8, &o), 0);
    assert_true(o.ndead == 1 && o.nrows == 0);
    assert_int_equal(o.dead_len[0], strlen(bad_utf8));
    out_clear(&o);
    assert_int_equal(parse(nul, &o), 0);
    assert_true(o.ndead == 1 && o.nrows == 0);
    out_clear(&o);
    assert_int_equal(parse("42", &o), 0);
    assert_string_equal(o.dead_reason[0], "not a JSON object or array");
    out_clear(&o);
    assert_int_equal(parse_len(NULL, 0, &o), 0);
    assert_string_equal(o.dead_reason[0], "empty message");
    out_clear(&o);
    /* a single bad object keeps the message's own bytes */
    assert_int_equal(parse("{ \"soDangKy\" : \"\" }", &o), 0);
    assert_string_equal(o.dead_raw[0], "{ \"soDangKy\" : \"\" }");
    out_clear(&o);
}

static void
test_sink_error_stops(void **state)
{
    struct out o = {.fail_rows = 1};

    (void)state;
    assert_int_equal(parse("[" FULL_RECORD ", " FULL_RECORD "]", &o), -1);
    assert_int_equal(o.nrows, 0);
    out_clear(&o);
}

static void
test_pipeline_entry(void **state)
{
    char lower[64];

    (void)state;
    assert_string_equal(loader_dvc.name, "dvc");
    assert_string_equal(loader_dvc.default_topic, "all_data");
    assert_non_null(strstr(loader_dvc.copy_sql, "pharmaceutical_data_staging"));
    assert_non_null(strstr(loader_dvc.copy_sql, "source_topic, source_partition, source_offset"));
    for (int i = 0; i < LOADER_DVC_COLUMNS; i++) { /* each field's column, folded to lower case */
        size_t n = strlen(loader_dvc_field(i));
        for (size_t k = 0; k <= n; k++)
            lower[k] = (char)(loader_dvc_field(i)[k] | (k < n ? 0x20 : 0));
        assert_non_null(strstr(loader_dvc.copy_sql, lower));
    }
}

/* ---- the fast path (jsonflat) and jansson agree ---- */

/* A record without escapes: what the crawler sends, and what the fast path takes. */
#define PLAIN_RECORD                                                                                \
    "{\"idThuoc\":20002,\"soDangKy\":\"VN-10000-22\",\"soDangKyCu\":null,"                          \
    "\"tenThuoc\":\"Imex Omeprazol 20mg\",\"phanLoaiThuocEnum\":3,\"congTyDangKyId\":112,"          \
    "\"congTySanXuatId\":\"122\",\"creationTime\":\"2022-02-25T08:13:38.379+07:00\","               \
    "\"lastModificationTime\":\"2025-12-01T22:00:51.2212345+07:00\","                               \
    "\"tenCongTyDangKy\":\"Công ty cổ phần Sanofi Việt Nam\",\"nuocDangKy\":\"Việt Nam\"," \
    "\"diaChiSanXuat\":\"Verovškova 57 \",\"dotCap\":180,\"ngayCapSoDangKy\":\"\","                \
    "\"ngayHetHanSoDangKy\":\"2027-02-07T00:00:00Z\",\"tieuChuanId\":-7,\"unknown\":true,"          \
    "\"tuoiTho\":\"36 tháng 🙂\",\"x\":false}"

/* Run both pipelines on the same bytes; their rows and dead letters must be identical. The
 * bytes are copied to a buffer of exactly len bytes, so that a read past the end is caught
 * under ASan (make asan). */
static void
same_as_jansson(const char *text, size_t len)
{
    struct out a = {0}, b = {0};
    char *value = malloc(len ? len : 1);
    struct loader_msg m = {"all_data", 3, 42, value, len};
    struct loader_sink sa = {collect_row, collect_dead, &a}, sb = {collect_row, collect_dead, &b};
    struct pgconn_row *row = pgconn_row_new();
    struct err e = {0};
    int ra, rb;

    assert_non_null(value);
    memcpy(value, text, len);
    ra = loader_dvc.parse(&m, row, &sa, &e);
    rb = loader_dvc_jansson.parse(&m, row, &sb, &e);

    if (ra != rb || a.nrows != b.nrows || a.ndead != b.ndead)
        fail_msg("'%.*s': rc %d/%d rows %d/%d dead %d/%d", (int)len, value, ra, rb, a.nrows,
                 b.nrows, a.ndead, b.ndead);
    for (int i = 0; i < a.nrows; i++)
        if (strcmp(a.rows[i], b.rows[i]) != 0)
            fail_msg("'%.*s': row '%s' vs jansson's '%s'", (int)len, value, a.rows[i], b.rows[i]);
    for (int i = 0; i < a.ndead; i++)
        if (strcmp(a.dead_reason[i], b.dead_reason[i]) != 0 || a.dead_len[i] != b.dead_len[i] ||
            (a.dead_raw[i] && memcmp(a.dead_raw[i], b.dead_raw[i], a.dead_len[i]) != 0))
            fail_msg("'%.*s': dead letter '%s' vs jansson's '%s'", (int)len, value,
                     a.dead_reason[i], b.dead_reason[i]);
    pgconn_row_free(row);
    out_clear(&a);
    out_clear(&b);
    free(value);
}

static int
scan(const char *json, struct jsonflat_val *vals)
{
    static const char *const names[] = {"a", "b", "c"};

    return jsonflat_scan(json, strlen(json), names, 3, vals);
}

static void
test_jsonflat_takes(void **state)
{
    struct jsonflat_val v[3];
    const char *const names[LOADER_DVC_COLUMNS] = {0};

    (void)state;
    assert_int_equal(scan(" {\"b\" : \"x y\" , \"a\":-12,\"z\":null,\"c\":true}\n", v), 0);
    assert_int_equal(v[0].kind, JF_INTEGER);
    assert_int_equal(v[0].i, -12);
    assert_int_equal(v[1].kind, JF_STRING);
    assert_int_equal(v[1].len, 3);
    assert_memory_equal(v[1].s, "x y", 3);
    assert_int_equal(v[2].kind, JF_TRUE);
    assert_int_equal(scan("{}", v), 0);
    assert_int_equal(v[0].kind, JF_ABSENT);
    assert_int_equal(scan("{\"a\":null,\"b\":false,\"c\":\"\"}", v), 0);
    assert_true(v[0].kind == JF_NULL && v[1].kind == JF_FALSE && v[2].kind == JF_STRING);
    assert_int_equal(scan("{\"a\":-9223372036854775808,\"b\":9223372036854775807}", v), 0);
    assert_true(v[0].i == INT64_MIN && v[1].i == INT64_MAX);
    assert_int_equal(scan("{\"a\":\"\xf0\x9f\x99\x82 \xc3\xa9 \xe1\xbb\x87\"}", v), 0);
    for (int i = 0; i < LOADER_DVC_COLUMNS; i++)
        ((const char **)names)[i] = loader_dvc_field(i);
    assert_int_equal(jsonflat_scan(PLAIN_RECORD, strlen(PLAIN_RECORD), names, LOADER_DVC_COLUMNS,
                                   (struct jsonflat_val[LOADER_DVC_COLUMNS]){0}),
                     0);
}

static void
test_jsonflat_leaves_to_jansson(void **state)
{
    static const char *const hard[] = {
        "{\"a\":\"x\\ty\"}",           /* escape */
        "{\"a\":1.5}",                 /* real */
        "{\"a\":1e3}",                 /* exponent */
        "{\"a\":01}",                  /* leading zero: not JSON */
        "{\"a\":9223372036854775808}", /* too big */
        "{\"a\":-9223372036854775809}",
        "{\"a\":-}",
        "{\"a\":{}}", /* nested */
        "{\"z\":[1]}",
        "{\"a\":1,\"a\":2}", /* twice */
        "{\"a\":1,}",
        "{\"a\":1",
        "{\"a\":1}x",
        "{\"a\":1} {}",
        "{\"a\" 1}",
        "{a:1}",
        "[{\"a\":1}]",
        "\"a\"",
        "",
        "{\"a\":tru}",
        "{\"a\":truex}",
        "{\"a\":\"\x01\"}",             /* control character */
        "{\"a\":\"\xc0\x80\"}",         /* overlong */
        "{\"a\":\"\xe0\x80\xaf\"}",     /* overlong */
        "{\"a\":\"\xed\xa0\x80\"}",     /* surrogate */
        "{\"a\":\"\xf4\x90\x80\x80\"}", /* above U+10FFFF */
        "{\"a\":\"\xc3\"}",             /* cut */
        "{\"a\":\"\xff\"}",
        "{\"\xff\":1}",
        "{\"a\":\"x}",
        "{\"a\":1}\v",
    };
    struct jsonflat_val v[3];

    (void)state;
    for (size_t i = 0; i < sizeof(hard) / sizeof(hard[0]); i++)
        if (scan(hard[i], v) == 0)
            fail_msg("jsonflat took '%s'", hard[i]);
}

static void
test_fast_path_same_as_jansson(void **state)
{
    static const char *const cases[] = {
        PLAIN_RECORD,
        FULL_RECORD,
        "{\"soDangKy\":\"A\"}",
        "{\"soDangKy\":\"  \"}",
        "{\"soDangKy\":7,\"idThuoc\":-0,\"tieuChuanId\":\" +12 \",\"phanLoaiThuocEnum\":true}",
        "{\"soDangKy\":\"A\",\"phanLoaiThuocEnum\":2147483648}",
        "{\"soDangKy\":\"A\",\"phanLoaiThuocEnum\":-2147483648,\"idThuoc\":\"-\"}",
        "{\"soDangKy\":\"A\",\"idThuoc\":\"99999999999999999999\",\"congTyDangKyId\":\"\"}",
        "{\"soDangKy\":\"A\",\"idThuoc\":\"12 34\",\"congTyDangKyId\":\"1.0\"}",
        "{\"soDangKy\":\"A\",\"creationTime\":\" \",\"lastModificationTime\":17}",
        "{\"soDangKy\":\"A\",\"creationTime\":\"2025-12-01T22:00:51.123456789+07:00\"}",
        "{\"soDangKy\":\"A\",\"creationTime\":\"2025-12-01T22:00:51.1234567890+07:00\"}",
        "{\"soDangKy\":\"A\",\"creationTime\":\"2025-12-01T22:00:51+07:00 and then a very long "
        "tail that does not fit in sixty-four bytes\"}",
        "{\"soDangKy\":\"A\",\"ngayCapSoDangKy\":\"Ngày 1 tháng 2 năm 2025, một ngày rất "
        "đẹp trời\"}",
        "{\"soDangKy\":\"A\",\"tenThuoc\":false,\"dotCap\":1.5,\"tuoiTho\":{\"x\":1}}",
        "{\"soDangKy\":\"A\",\"soDangKy\":\"B\"}",
        "{\"soDangKy\":\"A\",\"x\":1e400}",
        "{\"soDangKy\":\"A\\u00e9\"}",
        "{\"soDangKy\":\"A\",\"idThuoc\":9223372036854775808}",
        "{}",
        "[]",
        "[" PLAIN_RECORD "," PLAIN_RECORD "]",
        "null",
        " ",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        same_as_jansson(cases[i], strlen(cases[i]));
}

/* Every truncation, deletion and replacement (by bytes that matter to a JSON scanner) of a
 * plain record: both paths must agree on all of them. */
static void
test_fast_path_mutations(void **state)
{
    static const char subst[] = {'"', '\\', '\x01', '\xff', '\xc3', ' ', '}',  '{',  ',',
                                 ':', '0',  '-',    '.',    'e',    'a', '\t', '\0', '['};
    const char *rec = PLAIN_RECORD;
    size_t n = strlen(rec);
    char *buf = malloc(n + 1);

    (void)state;
    assert_non_null(buf);
    for (size_t i = 0; i < n; i++) {
        same_as_jansson(rec, i);
        memcpy(buf, rec, i);
        memcpy(buf + i, rec + i + 1, n - i - 1);
        same_as_jansson(buf, n - 1);
        memcpy(buf, rec, n);
        for (size_t k = 0; k < sizeof(subst); k++) {
            buf[i] = subst[k];
            same_as_jansson(buf, n);
        }
    }
    free(buf);
}

/* ---- the COPY row builder (pgconn_row_*), which every loader's rows go through ---- */

/* COPY text of value the slow, obvious way. */
static size_t
escape_ref(const char *v, size_t len, char *out)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        const char *esc = v[i] == '\\'   ? "\\\\"
                          : v[i] == '\t' ? "\\t"
                          : v[i] == '\n' ? "\\n"
                          : v[i] == '\r' ? "\\r"
                                         : NULL;
        if (esc) {
            memcpy(out + n, esc, 2);
            n += 2;
        } else {
            out[n++] = v[i];
        }
    }
    return n;
}

static void
test_copy_row_escapes(void **state)
{
    static const char specials[] = {'\\', '\t', '\n', '\r', 'x', '\xc3'};
    struct pgconn_row *row = pgconn_row_new();
    struct err e = {0};
    char value[40], want[200];
    size_t len, n;
    const char *text;

    (void)state;
    assert_non_null(row);
    /* a special byte at every position of values of every length up to 33 (8-byte chunks) */
    for (size_t vlen = 0; vlen <= 33; vlen++)
        for (size_t at = 0; at < vlen; at++)
            for (size_t k = 0; k < sizeof(specials); k++) {
                memset(value, 'a' + (int)(vlen % 26), vlen);
                value[at] = specials[k];
                pgconn_row_reset(row);
                assert_int_equal(pgconn_row_addn(row, "first", 5, &e), 0);
                assert_int_equal(pgconn_row_addn(row, value, vlen, &e), 0);
                assert_int_equal(pgconn_row_addn(row, NULL, 0, &e), 0);
                memcpy(want, "first\t", 6);
                n = 6 + escape_ref(value, vlen, want + 6);
                memcpy(want + n, "\t\\N\n", 5);
                text = pgconn_row_text(row, &len);
                assert_int_equal(len, n + 4);
                assert_memory_equal(text, want, n + 5); /* with the NUL after it */
            }
    /* a NUL anywhere is refused and leaves the row as it was */
    for (size_t at = 0; at < 20; at++) {
        memset(value, 'b', 20);
        value[at] = '\0';
        pgconn_row_reset(row);
        assert_int_equal(pgconn_row_add(row, "k", &e), 0);
        assert_int_equal(pgconn_row_addn(row, value, 20, &e), -1);
        assert_non_null(strstr(e.msg, "value 2 holds a NUL byte"));
        text = pgconn_row_text(row, &len);
        assert_int_equal(len, 2);
        assert_string_equal(text, "k\n");
        assert_int_equal(pgconn_row_addf(row, &e, "%d", 42), 0);
        assert_string_equal(pgconn_row_text(row, NULL), "k\t42\n");
    }
    pgconn_row_free(row);
}

/* The loader's data-loss check (kafka.h): the mock's log always starts at 0, so a stored
 * offset below the log start cannot be produced through the loader in the integration test. */
static void
test_data_loss_check(void **state)
{
    struct err e = {0};

    (void)state;
    assert_int_equal(kq_check_offset("all_data", 2, 5, 10, 20, &e), -1);
    assert_int_equal(e.code, ERR_FAIL);
    assert_false(e.temporary); /* exit 1, loudly; never a reset */
    assert_non_null(strstr(e.msg, "data loss"));
    assert_non_null(strstr(e.msg, "stored offset 5 is below the log start 10"));
    err_clear(&e);
    assert_int_equal(kq_check_offset("all_data", 2, 21, 10, 20, &e), -1);
    assert_non_null(strstr(e.msg, "data loss"));
    assert_int_equal(kq_check_offset("all_data", 2, 10, 10, 20, &e), 0);
    assert_int_equal(kq_check_offset("all_data", 2, 20, 10, 20, &e), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_every_column),
        cmocka_unit_test(test_page_and_object_agree),
        cmocka_unit_test(test_record_nulls),
        cmocka_unit_test(test_record_sodangky),
        cmocka_unit_test(test_record_numbers),
        cmocka_unit_test(test_reason_utf8_cut),
        cmocka_unit_test(test_record_bad_dates),
        cmocka_unit_test(test_bad_record_in_good_page),
        cmocka_unit_test(test_bad_messages),
        cmocka_unit_test(test_sink_error_stops),
        cmocka_unit_test(test_pipeline_entry),
        cmocka_unit_test(test_jsonflat_takes),
        cmocka_unit_test(test_jsonflat_leaves_to_jansson),
        cmocka_unit_test(test_fast_path_same_as_jansson),
        cmocka_unit_test(test_fast_path_mutations),
        cmocka_unit_test(test_copy_row_escapes),
        cmocka_unit_test(test_data_loss_check),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
