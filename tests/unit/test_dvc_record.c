/* Unit tests for tasks/lib/dvc_record: flattening a registry item into the original's 29
 * fields (every field, null nested objects, the fullAddress rule both ways, Vietnamese text and
 * timestamps unchanged, no ASCII escaping in the output), the item check the crawler uses to
 * count odd items, page envelopes, and the timestamp parser (0 to 7 fraction digits, Z and
 * offsets either side of UTC, invalid texts) with its UTC formatter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "dvc_record.h"
#include "tasktest.h"

/* An item as the portal serves it, every nested object present. */
static const char FULL_ITEM[] =
    "{\"id\": 20017, \"soDangKy\": \"VD-10005-21\", \"soDangKyCu\": \"VN-12345-16\","
    " \"tenThuoc\": \"Hoạt huyết dưỡng não \", \"phanLoaiThuocEnum\": 2,"
    " \"congTyDangKyId\": 101, \"congTySanXuatId\": 114,"
    " \"congTyDangKy\": {\"tenCongTyDangKy\": \"Công ty cổ phần Traphaco\","
    "   \"diaChiDangKy\": \"75 phố Yên Ninh, Hà Nội\", \"nuocDangKy\": \"Việt Nam\"},"
    " \"congTySanXuat\": {\"tenCongTySanXuat\": \"Lek Pharmaceuticals d.d.\","
    "   \"diaChiSanXuat\": \"Verovškova 57, 1526 Ljubljana\", \"nuocSanXuat\": \"Slovenia\"},"
    " \"thongTinDangKyThuoc\": {\"dotCap\": \"181\","
    "   \"ngayCapSoDangKy\": \"2021-03-02T00:00:00+07:00\","
    "   \"ngayHetHanSoDangKy\": \"2026-03-01T00:00:00+07:00\", \"ngayGiaHanSoDangKy\": null,"
    "   \"soQuyetDinh\": \"62/QĐ-QLD\"},"
    " \"thongTinRutSoDangKy\": {\"urlCongVanRutSoDangKy\": "
    "   \"https://dichvucong.dav.gov.vn/congbothuoc/rutsdk/2021/812-QLD-DK.pdf\"},"
    " \"thongTinThuocCoBan\": {\"dangBaoChe\": \"Viên nang cứng\", \"dongGoi\": \"Hộp 10 vỉ\","
    "   \"hamLuong\": \"150mg; 5mg\", \"hoatChatChinh\": \"Cao đặc rễ Đinh lăng\","
    "   \"tieuChuan\": \"TCCS\", \"tieuChuanId\": 1, \"tuoiTho\": \"36 tháng\"},"
    " \"creationTime\": \"2021-03-05T10:11:12.5+07:00\","
    " \"lastModificationTime\": \"2025-12-01T22:00:51.22+07:00\"}";

static void
test_flatten_all_fields(void **state)
{
    (void)state;
    json_t *item = load(FULL_ITEM), *rec = dvc_record_flatten(item);
    const char *k;
    json_t *v;
    int i = 0;

    assert_non_null(rec);
    assert_int_equal(json_object_size(rec), DVC_RECORD_FIELDS);
    json_object_foreach(rec, k, v)
    { /* the original's order */
        assert_string_equal(k, dvc_record_fields[i]);
        i++;
    }
    assert_int_equal(json_integer_value(json_object_get(rec, "idThuoc")), 20017);
    assert_string_equal(str(rec, "soDangKy"), "VD-10005-21");
    assert_string_equal(str(rec, "soDangKyCu"), "VN-12345-16");
    assert_string_equal(str(rec, "tenThuoc"), "Hoạt huyết dưỡng não "); /* spaces kept */
    assert_int_equal(json_integer_value(json_object_get(rec, "phanLoaiThuocEnum")), 2);
    assert_int_equal(json_integer_value(json_object_get(rec, "congTyDangKyId")), 101);
    assert_int_equal(json_integer_value(json_object_get(rec, "congTySanXuatId")), 114);
    assert_string_equal(str(rec, "creationTime"), "2021-03-05T10:11:12.5+07:00");
    assert_string_equal(str(rec, "lastModificationTime"), "2025-12-01T22:00:51.22+07:00");
    assert_string_equal(str(rec, "tenCongTyDangKy"), "Công ty cổ phần Traphaco");
    assert_string_equal(str(rec, "diaChiDangKy"), "75 phố Yên Ninh, Hà Nội");
    assert_string_equal(str(rec, "nuocDangKy"), "Việt Nam");
    assert_string_equal(str(rec, "tenCongTySanXuat"), "Lek Pharmaceuticals d.d.");
    assert_string_equal(str(rec, "diaChiSanXuat"), "Verovškova 57, 1526 Ljubljana");
    assert_string_equal(str(rec, "nuocSanXuat"), "Slovenia");
    assert_string_equal(str(rec, "fullAddress"), "Verovškova 57, 1526 Ljubljana, Slovenia");
    assert_string_equal(str(rec, "dotCap"), "181");
    assert_string_equal(str(rec, "ngayCapSoDangKy"), "2021-03-02T00:00:00+07:00");
    assert_string_equal(str(rec, "ngayHetHanSoDangKy"), "2026-03-01T00:00:00+07:00");
    assert_true(json_is_null(json_object_get(rec, "ngayGiaHanSoDangKy")));
    assert_string_equal(str(rec, "soQuyetDinh"), "62/QĐ-QLD");
    assert_string_equal(str(rec, "thongTinRutSoDangKy"),
                        "https://dichvucong.dav.gov.vn/congbothuoc/rutsdk/2021/812-QLD-DK.pdf");
    assert_string_equal(str(rec, "dangBaoChe"), "Viên nang cứng");
    assert_string_equal(str(rec, "dongGoi"), "Hộp 10 vỉ");
    assert_string_equal(str(rec, "hamLuong"), "150mg; 5mg");
    assert_string_equal(str(rec, "hoatChatChinh"), "Cao đặc rễ Đinh lăng");
    assert_string_equal(str(rec, "tieuChuan"), "TCCS");
    assert_int_equal(json_integer_value(json_object_get(rec, "tieuChuanId")), 1);
    assert_string_equal(str(rec, "tuoiTho"), "36 tháng");
    json_decref(rec);
    json_decref(item);
}

static void
test_flatten_null_nested(void **state)
{
    (void)state;
    json_t *item = load("{\"id\": 7, \"soDangKy\": \"VN-1-20\", \"congTyDangKy\": null,"
                        " \"congTySanXuat\": null, \"thongTinDangKyThuoc\": null,"
                        " \"thongTinRutSoDangKy\": {\"urlCongVanRutSoDangKy\": null},"
                        " \"thongTinThuocCoBan\": \"not an object\","
                        " \"lastModificationTime\": \"2020-01-01T00:00:00+07:00\"}");
    json_t *rec = dvc_record_flatten(item);
    int nulls = 0;

    assert_non_null(rec);
    assert_int_equal(json_object_size(rec), DVC_RECORD_FIELDS);
    for (int i = 0; i < DVC_RECORD_FIELDS; i++) {
        json_t *v = json_object_get(rec, dvc_record_fields[i]);
        assert_non_null(v); /* every field present, null or not */
        nulls += json_is_null(v);
    }
    /* everything but idThuoc, soDangKy and lastModificationTime */
    assert_int_equal(nulls, DVC_RECORD_FIELDS - 3);
    assert_true(json_is_null(json_object_get(rec, "fullAddress")));
    assert_true(json_is_null(json_object_get(rec, "thongTinRutSoDangKy")));
    json_decref(rec);
    json_decref(item);
    assert_null(dvc_record_flatten(NULL));
}

/* fullAddress of a manufacturer object (JSON text). */
static char *
full_address(const char *maker)
{
    char text[512];

    snprintf(text, sizeof(text), "{\"soDangKy\": \"X\", \"congTySanXuat\": %s}", maker);
    json_t *item = load(text), *rec = dvc_record_flatten(item);
    const char *v = str(rec, "fullAddress");
    char *out = strdup(v ? v : "(null)");
    json_decref(rec);
    json_decref(item);
    return out;
}

static void
test_full_address_rule(void **state)
{
    (void)state;
    struct {
        const char *maker, *want;
    } cases[] = {
        {"{\"diaChiSanXuat\": \"10A Quang Trung, Hà Nội\", \"nuocSanXuat\": \"Việt Nam\"}",
         "10A Quang Trung, Hà Nội, Việt Nam"},
        /* already names the country: unchanged */
        {"{\"diaChiSanXuat\": \"166 Nguyễn Huệ, Tuy Hòa, Việt Nam\", \"nuocSanXuat\": \"Việt "
         "Nam\"}",
         "166 Nguyễn Huệ, Tuy Hòa, Việt Nam"},
        {"{\"diaChiSanXuat\": \"Binger Strasse 173, Đức 55216\", \"nuocSanXuat\": \"Đức\"}",
         "Binger Strasse 173, Đức 55216"},
        {"{\"diaChiSanXuat\": \"Goa 403115\", \"nuocSanXuat\": null}", "Goa 403115"},
        {"{\"diaChiSanXuat\": \"Goa 403115\", \"nuocSanXuat\": \"\"}", "Goa 403115"},
        {"{\"diaChiSanXuat\": null, \"nuocSanXuat\": \"Pháp\"}", "(null)"},
        {"{}", "(null)"},
        {"null", "(null)"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = full_address(cases[i].maker);
        assert_string_equal(got, cases[i].want);
        free(got);
    }
}

static void
test_dump_utf8_compact(void **state)
{
    (void)state;
    json_t *item = load(FULL_ITEM), *rec = dvc_record_flatten(item), *arr = json_array();
    char *text = dvc_record_dump(rec);

    assert_non_null(text);
    assert_non_null(strstr(text, "\"tenThuoc\":\"Hoạt huyết dưỡng não \""));
    assert_non_null(strstr(text, "\"soQuyetDinh\":\"62/QĐ-QLD\"")); /* no \/ either */
    assert_null(strstr(text, "\\u"));
    assert_int_equal(strncmp(text, "{\"idThuoc\":20017,\"soDangKy\":\"VD-10005-21\",", 42), 0);
    free(text);
    json_array_append(arr, rec);
    json_array_append(arr, rec);
    text = dvc_record_dump(arr);
    assert_int_equal(text[0], '[');
    assert_non_null(strstr(text, "},{\"idThuoc\""));
    free(text);
    json_decref(arr);
    json_decref(rec);
    json_decref(item);
}

static void
test_item_check(void **state)
{
    (void)state;
    struct {
        const char *item;
        int rc, ticks_ok;
        const char *why;
    } cases[] = {
        {"{\"soDangKy\": \"A\", \"lastModificationTime\": \"2020-01-01T07:00:00+07:00\"}", 0, 1,
         NULL},
        {"{\"lastModificationTime\": \"2020-01-01T07:00:00+07:00\"}", -1, 1, "soDangKy"},
        {"{\"soDangKy\": \"\", \"lastModificationTime\": \"2020-01-01T07:00:00+07:00\"}", -1, 1,
         "soDangKy"},
        {"{\"soDangKy\": \"A\"}", -1, 0, "lastModificationTime"},
        {"{\"soDangKy\": \"A\", \"lastModificationTime\": null}", -1, 0, "lastModificationTime"},
        {"{\"soDangKy\": \"A\", \"lastModificationTime\": \"01/02/2020\"}", -1, 0,
         "lastModificationTime"},
        {"[1]", -1, 0, "not an object"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *item = load(cases[i].item);
        const char *sdk = "junk";
        int64_t ticks = 0;
        int ok = -1;
        struct err e = {0};

        assert_int_equal(dvc_item_check(item, &sdk, &ticks, &ok, &e), cases[i].rc);
        assert_int_equal(ok, cases[i].ticks_ok);
        if (cases[i].ticks_ok)
            assert_true(ticks == (int64_t)1577836800 * DVC_TICKS_PER_SEC);
        if (cases[i].rc == 0) {
            assert_string_equal(sdk, "A");
        } else {
            assert_null(sdk);
            assert_non_null(strstr(e.msg, cases[i].why));
        }
        json_decref(item);
    }
    char id[32];
    json_t *item = load("{\"id\": 42}");
    assert_string_equal(dvc_item_id(item, id, sizeof(id)), "42");
    json_decref(item);
    assert_string_equal(dvc_item_id(NULL, id, sizeof(id)), "?");
}

static void
test_page_parse(void **state)
{
    (void)state;
    const char ok[] = "{\"result\": {\"totalCount\": 5000, \"items\": [{\"id\": 1}]},"
                      " \"success\": true, \"error\": null}";
    json_t *root = NULL, *items = NULL;
    long long total = -1;
    struct err e = {0};

    assert_int_equal(dvc_page_parse(ok, strlen(ok), &root, &items, &total, &e), 0);
    assert_int_equal(total, 5000);
    assert_int_equal(json_array_size(items), 1);
    json_decref(root);
    assert_int_equal(dvc_page_validate(ok, strlen(ok), &e), 0);

    const char *bad[][2] = {
        {"{\"result\": {\"totalCount\": 5000, \"items\": [", "not JSON"}, /* truncated */
        {"<!DOCTYPE html><html></html>", "not JSON"},
        {"{\"result\": null, \"success\": false, \"error\": {\"message\": \"An internal error\"}}",
         "An internal error"},
        {"{\"result\": {\"totalCount\": 1, \"items\": {}}, \"success\": true}", "items"},
        {"{\"result\": {\"items\": []}, \"success\": true}", "totalCount"},
        {"{\"result\": {\"totalCount\": -1, \"items\": []}, \"success\": true}", "totalCount"},
        {"[]", "not a JSON object"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err_clear(&e);
        assert_int_equal(dvc_page_validate(bad[i][0], strlen(bad[i][0]), &e), -1);
        assert_int_equal(e.code, ERR_PARSE);
        if (strstr(e.msg, bad[i][1]) == NULL)
            fail_msg("case %zu: '%s' lacks '%s'", i, e.msg, bad[i][1]);
    }
}

/* Ticks of a UTC civil time (whole seconds) plus a fraction in ticks. */
static int64_t
utc(int64_t days_since_epoch, int h, int m, int s, int64_t frac)
{
    return ((days_since_epoch * 86400) + h * 3600 + m * 60 + s) * DVC_TICKS_PER_SEC + frac;
}

static void
test_time_parse(void **state)
{
    (void)state;
    /* 2025-12-01 is day 20423 since 1970-01-01; 22:00:51+07:00 is 15:00:51Z */
    const int64_t base = utc(20423, 15, 0, 51, 0);
    struct {
        const char *text;
        int64_t want;
    } ok[] = {
        {"2025-12-01T22:00:51+07:00", base},
        {"2025-12-01T22:00:51.2+07:00", base + 2000000},
        {"2025-12-01T22:00:51.22+07:00", base + 2200000},
        {"2025-12-01T22:00:51.123+07:00", base + 1230000},
        {"2025-12-01T22:00:51.1234+07:00", base + 1234000},
        {"2025-12-01T22:00:51.12345+07:00", base + 1234500},
        {"2025-12-01T22:00:51.123456+07:00", base + 1234560},
        {"2025-12-01T22:00:51.1234567+07:00", base + 1234567},
        {"2025-12-01T15:00:51Z", base},
        {"2025-12-01T15:00:51.5z", base + 5000000},
        {"2025-12-01 15:00:51+00:00", base},
        {"2025-12-01T09:30:51-05:30", base},
        {"2025-12-02T00:00:51+09:00", base},
        {"1970-01-01T00:00:00Z", 0},
        {"1969-12-31T23:59:59.9999999Z", -1},
        {"2024-02-29T12:00:00Z", utc(19782, 12, 0, 0, 0)},
        {"2000-03-01T00:00:00+14:00", utc(11016, 10, 0, 0, 0)},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        int64_t t = 0;
        struct err e = {0};
        if (dvc_time_parse(ok[i].text, &t, &e) != 0)
            fail_msg("%s: %s", ok[i].text, e.msg);
        if (t != ok[i].want)
            fail_msg("%s: %lld, want %lld", ok[i].text, (long long)t, (long long)ok[i].want);
    }
    const char *bad[] = {
        "",
        "2025-12-01",
        "2025-12-01T22:00:51",           /* no offset: ambiguous */
        "2025-12-01T22:00:51.+07:00",    /* a dot without digits */
        "2025-12-01T22:00:51.12345678Z", /* 8 digits */
        "2025-12-01T22:00:51+0700",      /* offset without colon */
        "2025-12-01T22:00:51+07",        /* offset without minutes */
        "2025-12-01T22:00:51+24:00",     /* offset out of range */
        "2025-12-01T22:00:51+07:60",
        "2025-13-01T00:00:00Z",       /* month 13 */
        "2025-00-10T00:00:00Z",       /* month 0 */
        "2025-02-29T00:00:00Z",       /* not a leap year */
        "2025-04-31T00:00:00Z",       /* April has 30 days */
        "2025-12-00T00:00:00Z",       /* day 0 */
        "2025-12-01T24:00:00Z",       /* hour 24 */
        "2025-12-01T23:60:00Z",       /* minute 60 */
        "2025-12-01T23:59:60Z",       /* leap second */
        "2025-12-01T22:00:51+07:00 ", /* trailing text */
        " 2025-12-01T22:00:51+07:00", /* leading text */
        "25-12-01T22:00:51+07:00",    /* 2-digit year */
        "2025/12/01T22:00:51+07:00",
        "2025-12-01X22:00:51+07:00",
        "2025-1-01T22:00:51+07:00",
        "2025-12-01T22:00:5a+07:00",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t t = 12345;
        struct err e = {0};
        if (dvc_time_parse(bad[i], &t, &e) != -1)
            fail_msg("'%s' was accepted", bad[i]);
        assert_int_equal(e.code, ERR_PARSE);
        assert_true(t == 12345); /* untouched */
    }
    assert_int_equal(dvc_time_parse(NULL, &(int64_t){0}, NULL), -1);
}

static void
test_time_format(void **state)
{
    (void)state;
    char buf[DVC_TIME_MAX];
    int64_t t;

    assert_int_equal(dvc_time_parse("2025-12-01T22:00:51.1234567+07:00", &t, NULL), 0);
    dvc_time_format(t, 7, buf, sizeof(buf));
    assert_string_equal(buf, "2025-12-01T15:00:51.1234567Z");
    dvc_time_format(t, 6, buf, sizeof(buf)); /* truncated, never rounded up */
    assert_string_equal(buf, "2025-12-01T15:00:51.123456Z");
    dvc_time_format(t, 0, buf, sizeof(buf));
    assert_string_equal(buf, "2025-12-01T15:00:51Z");
    dvc_time_format(-1, 7, buf, sizeof(buf));
    assert_string_equal(buf, "1969-12-31T23:59:59.9999999Z");
    dvc_time_format(0, 3, buf, sizeof(buf));
    assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
    /* round trip across a few centuries and leap days */
    const char *texts[] = {"1900-02-28T23:59:59.5Z", "2000-02-29T00:00:00.0000001Z",
                           "2100-03-01T12:34:56.7654321Z", "0001-01-01T00:00:00Z",
                           "9999-12-31T23:59:59.9999999Z"};
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        int64_t u;
        assert_int_equal(dvc_time_parse(texts[i], &u, NULL), 0);
        dvc_time_format(u, 7, buf, sizeof(buf));
        int64_t back;
        assert_int_equal(dvc_time_parse(buf, &back, NULL), 0);
        assert_true(back == u);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flatten_all_fields), cmocka_unit_test(test_flatten_null_nested),
        cmocka_unit_test(test_full_address_rule),  cmocka_unit_test(test_dump_utf8_compact),
        cmocka_unit_test(test_item_check),         cmocka_unit_test(test_page_parse),
        cmocka_unit_test(test_time_parse),         cmocka_unit_test(test_time_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
