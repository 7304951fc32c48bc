/* dvc_record: the drug registry portal's answers turned into what the crawler sends (see
 * dvc_record.h).
 *
 * Key invariant: a flat record is the source's values, untouched. Text stays byte for byte
 * (Vietnamese diacritics as raw UTF-8, stray spaces kept), timestamps keep their source text
 * with its offset (the loader converts them to timestamptz keeping the instant), and a missing
 * piece becomes null instead of an error: every one of the five nested objects may be null in
 * the real registry. Only the crawler's decisions (is this item newer than the watermark?) use
 * parsed instants, and those are exact to the source's 100 ns. */
#include "dvc_record.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iso8601.h"

/* The one table of the 29 flat fields, in the original's (and the staging table's column)
 * order: X(name, object, key, type). The field comes from item.object.key (object NULL: the
 * item itself; key NULL: fullAddress, computed); type is the column's, which the loader
 * checks. */
#define DVC_FIELD_TABLE(X)                                                                         \
    X("idThuoc", NULL, "id", DVC_FIELD_BIGINT)                                                     \
    X("soDangKy", NULL, "soDangKy", DVC_FIELD_KEY)                                                 \
    X("soDangKyCu", NULL, "soDangKyCu", DVC_FIELD_TEXT)                                            \
    X("tenThuoc", NULL, "tenThuoc", DVC_FIELD_TEXT)                                                \
    X("phanLoaiThuocEnum", NULL, "phanLoaiThuocEnum", DVC_FIELD_INT)                               \
    X("congTyDangKyId", NULL, "congTyDangKyId", DVC_FIELD_BIGINT)                                  \
    X("congTySanXuatId", NULL, "congTySanXuatId", DVC_FIELD_BIGINT)                                \
    X("creationTime", NULL, "creationTime", DVC_FIELD_TIME)                                        \
    X("lastModificationTime", NULL, "lastModificationTime", DVC_FIELD_TIME)                        \
    X("tenCongTyDangKy", "congTyDangKy", "tenCongTyDangKy", DVC_FIELD_TEXT)                        \
    X("diaChiDangKy", "congTyDangKy", "diaChiDangKy", DVC_FIELD_TEXT)                              \
    X("nuocDangKy", "congTyDangKy", "nuocDangKy", DVC_FIELD_TEXT)                                  \
    X("tenCongTySanXuat", "congTySanXuat", "tenCongTySanXuat", DVC_FIELD_TEXT)                     \
    X("diaChiSanXuat", "congTySanXuat", "diaChiSanXuat", DVC_FIELD_TEXT)                           \
    X("nuocSanXuat", "congTySanXuat", "nuocSanXuat", DVC_FIELD_TEXT)                               \
    X("fullAddress", NULL, NULL, DVC_FIELD_TEXT)                                                   \
    X("dotCap", "thongTinDangKyThuoc", "dotCap", DVC_FIELD_TEXT)                                   \
    X("ngayCapSoDangKy", "thongTinDangKyThuoc", "ngayCapSoDangKy", DVC_FIELD_TIME)                 \
    X("ngayHetHanSoDangKy", "thongTinDangKyThuoc", "ngayHetHanSoDangKy", DVC_FIELD_TIME)           \
    X("ngayGiaHanSoDangKy", "thongTinDangKyThuoc", "ngayGiaHanSoDangKy", DVC_FIELD_TIME)           \
    X("soQuyetDinh", "thongTinDangKyThuoc", "soQuyetDinh", DVC_FIELD_TEXT)                         \
    X("thongTinRutSoDangKy", "thongTinRutSoDangKy", "urlCongVanRutSoDangKy", DVC_FIELD_TEXT)       \
    X("dangBaoChe", "thongTinThuocCoBan", "dangBaoChe", DVC_FIELD_TEXT)                            \
    X("dongGoi", "thongTinThuocCoBan", "dongGoi", DVC_FIELD_TEXT)                                  \
    X("hamLuong", "thongTinThuocCoBan", "hamLuong", DVC_FIELD_TEXT)                                \
    X("hoatChatChinh", "thongTinThuocCoBan", "hoatChatChinh", DVC_FIELD_TEXT)                      \
    X("tieuChuan", "thongTinThuocCoBan", "tieuChuan", DVC_FIELD_TEXT)                              \
    X("tieuChuanId", "thongTinThuocCoBan", "tieuChuanId", DVC_FIELD_BIGINT)                        \
    X("tuoiTho", "thongTinThuocCoBan", "tuoiTho", DVC_FIELD_TEXT)

#define FIELD_NAME(name, obj, key, type) name,
#define FIELD_ROW(name, obj, key, type) {name, obj, key, type},

const char *const dvc_record_fields[DVC_RECORD_FIELDS] = {DVC_FIELD_TABLE(FIELD_NAME)};
const struct dvc_field dvc_field_table[DVC_RECORD_FIELDS] = {DVC_FIELD_TABLE(FIELD_ROW)};

/* ---- time ---------------------------------------------------------------------------- */

/* n decimal digits at *p into *out, advancing *p; false when one is not a digit. */
static bool
digits(const char **p, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return true;
}

/* The fraction after the seconds (none, or '.' and 1 to 7 digits) in ticks. */
static bool
fraction(const char **p, int64_t *ticks)
{
    int n = 0;

    *ticks = 0;
    if (**p != '.')
        return true;
    (*p)++;
    while ((*p)[n] >= '0' && (*p)[n] <= '9')
        n++;
    if (n < 1 || n > 7)
        return false;
    for (int i = 0; i < 7; i++)
        *ticks = *ticks * 10 + (i < n ? (*p)[i] - '0' : 0);
    *p += n;
    return true;
}

/* "Z" or "+HH:MM" / "-HH:MM" at the end of the text, as seconds east of UTC. */
static bool
offset(const char *p, int *secs)
{
    int hh, mm, sign;

    if ((p[0] == 'Z' || p[0] == 'z') && p[1] == '\0') {
        *secs = 0;
        return true;
    }
    if (p[0] != '+' && p[0] != '-')
        return false;
    sign = p[0] == '-' ? -1 : 1;
    p++;
    if (!digits(&p, 2, &hh) || *p++ != ':' || !digits(&p, 2, &mm) || *p != '\0')
        return false;
    if (hh > 23 || mm > 59)
        return false;
    *secs = sign * (hh * 3600 + mm * 60);
    return true;
}

int
dvc_time_parse(const char *s, int64_t *ticks, struct err *e)
{
    const char *p = s;
    int y, mo, d, h, mi, sec, off;
    int64_t frac;

    if (s == NULL)
        return err_set(e, ERR_PARSE, "no timestamp");
    bool date_ok = digits(&p, 4, &y) && *p++ == '-' && digits(&p, 2, &mo) && *p++ == '-' &&
                   digits(&p, 2, &d) && (*p == 'T' || *p == 't' || *p == ' ');
    if (date_ok)
        p++;
    if (!date_ok || !digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi) || *p++ != ':' ||
        !digits(&p, 2, &sec) || !fraction(&p, &frac) || !offset(p, &off))
        return err_set(e, ERR_PARSE, "bad timestamp '%.60s' (want YYYY-MM-DDTHH:MM:SS[.f]+HH:MM)",
                       s);
    if (mo < 1 || mo > 12 || d < 1 || d > iso8601_days_in_month(y, mo) || h > 23 || mi > 59 ||
        sec > 59)
        return err_set(e, ERR_PARSE, "timestamp '%.60s' out of range", s);
    int64_t secs = iso8601_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off;
    *ticks = secs * DVC_TICKS_PER_SEC + frac;
    return 0;
}

void
dvc_time_format(int64_t ticks, int ndigits, char *buf, size_t size)
{
    int64_t secs = ticks / DVC_TICKS_PER_SEC, frac = ticks % DVC_TICKS_PER_SEC, y;
    int m, d;
    char fr[16] = "";

    if (frac < 0) { /* floor division: the fraction counts forward from a whole second */
        frac += DVC_TICKS_PER_SEC;
        secs--;
    }
    int64_t days = secs / 86400, rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    iso8601_civil_from_days(days, &y, &m, &d);
    if (ndigits > 7)
        ndigits = 7;
    if (ndigits > 0) {
        snprintf(fr, sizeof(fr), ".%07" PRId64, frac);
        fr[1 + ndigits] = '\0'; /* truncate: a watermark must never move past its source */
    }
    snprintf(buf, size, "%04" PRId64 "-%02d-%02dT%02d:%02d:%02d%sZ", y, m, d, (int)(rem / 3600),
             (int)(rem / 60 % 60), (int)(rem % 60), fr);
}

/* ---- pages and items ------------------------------------------------------------------ */

/* The portal's own error message of a failed answer, or "". */
static const char *
portal_message(const json_t *root)
{
    const char *msg = json_string_value(json_object_get(json_object_get(root, "error"), "message"));
    return msg != NULL ? msg : "";
}

/* Check the document's envelope; items and total from it. */
static int
page_check(const json_t *root, json_t **items, long long *total, struct err *e)
{
    const json_t *result = json_object_get(root, "result");
    json_t *arr = json_object_get(result, "items");
    const json_t *count = json_object_get(result, "totalCount");

    if (!json_is_object(root))
        return err_set(e, ERR_PARSE, "the answer is not a JSON object");
    if (!json_is_true(json_object_get(root, "success")))
        return err_set(e, ERR_PARSE, "success is not true: '%.120s'", portal_message(root));
    if (!json_is_array(arr))
        return err_set(e, ERR_PARSE, "no result.items array");
    if (!json_is_integer(count) || json_integer_value(count) < 0)
        return err_set(e, ERR_PARSE, "no result.totalCount integer");
    *items = arr;
    *total = json_integer_value(count);
    return 0;
}

int
dvc_page_parse(const char *body, size_t size, json_t **root, json_t **items, long long *total,
               struct err *e)
{
    json_error_t je;
    json_t *doc = json_loadb(body, size, 0, &je), *arr = NULL;
    long long n = 0;

    if (doc == NULL)
        return err_set(e, ERR_PARSE, "not JSON: %s at line %d column %d", je.text, je.line,
                       je.column);
    if (page_check(doc, &arr, &n, e) < 0) {
        json_decref(doc);
        return -1;
    }
    if (items != NULL)
        *items = arr;
    if (total != NULL)
        *total = n;
    if (root != NULL)
        *root = doc;
    else
        json_decref(doc);
    return 0;
}

int
dvc_page_validate(const char *body, size_t size, struct err *e)
{
    return dvc_page_parse(body, size, NULL, NULL, NULL, e);
}

int
dvc_page_keep(const char *body, size_t size, void **out, struct err *e)
{
    json_t *root = NULL;

    if (dvc_page_parse(body, size, &root, NULL, NULL, e) < 0)
        return -1;
    *out = root;
    return 0;
}

void
dvc_page_free(void *root)
{
    json_decref(root);
}

int
dvc_page_items(const json_t *root, json_t **items, long long *total, struct err *e)
{
    return page_check(root, items, total, e);
}

const char *
dvc_item_id(const json_t *item, char *buf, size_t size)
{
    const json_t *id = json_object_get(item, "id");

    if (json_is_integer(id))
        snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(id));
    else if (json_is_string(id))
        snprintf(buf, size, "%s", json_string_value(id));
    else
        snprintf(buf, size, "?");
    return buf;
}

int
dvc_item_check(const json_t *item, const char **so_dang_ky, int64_t *ticks, int *ticks_ok,
               struct err *e)
{
    const char *sdk, *lm;

    *ticks_ok = 0;
    *so_dang_ky = NULL;
    if (!json_is_object(item))
        return err_set(e, ERR_PARSE, "the item is not an object");
    lm = json_string_value(json_object_get(item, "lastModificationTime"));
    if (lm == NULL)
        return err_set(e, ERR_PARSE, "no lastModificationTime");
    if (dvc_time_parse(lm, ticks, e) < 0)
        return err_prefix(e, "lastModificationTime");
    *ticks_ok = 1;
    sdk = json_string_value(json_object_get(item, "soDangKy"));
    if (sdk == NULL || sdk[0] == '\0')
        return err_set(e, ERR_PARSE, "no soDangKy");
    *so_dang_ky = sdk;
    return 0;
}

/* diaChiSanXuat + ", " + nuocSanXuat unless the address already names the country (new
 * reference; json null without an address). */
static json_t *
full_address(const json_t *maker)
{
    const char *addr = json_string_value(json_object_get(maker, "diaChiSanXuat"));
    const char *country = json_string_value(json_object_get(maker, "nuocSanXuat"));
    char *joined;
    json_t *v;

    if (addr == NULL)
        return json_null();
    if (country == NULL || country[0] == '\0' || strstr(addr, country) != NULL)
        return json_string(addr);
    if (asprintf(&joined, "%s, %s", addr, country) < 0)
        return NULL;
    v = json_string(joined);
    free(joined);
    return v;
}

json_t *
dvc_record_flatten(const json_t *item)
{
    json_t *rec;

    if (!json_is_object(item) || (rec = json_object()) == NULL)
        return NULL;
    for (int i = 0; i < DVC_RECORD_FIELDS; i++) {
        const struct dvc_field *s = &dvc_field_table[i];
        const json_t *from = s->obj ? json_object_get(item, s->obj) : item;
        json_t *v;

        if (s->key == NULL) {
            const json_t *maker = json_object_get(item, "congTySanXuat");
            v = full_address(json_is_object(maker) ? maker : NULL);
        } else if (json_is_object(from) && json_object_get(from, s->key) != NULL) {
            v = json_incref(json_object_get(from, s->key));
        } else {
            v = json_null();
        }
        if (v == NULL || json_object_set_new(rec, s->name, v) < 0) {
            json_decref(rec);
            return NULL;
        }
    }
    return rec;
}

char *
dvc_record_dump(const json_t *value)
{
    return json_dumps(value, JSON_COMPACT | JSON_PRESERVE_ORDER);
}
