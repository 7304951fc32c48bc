/* fuzz_template: libFuzzer target for the template module.
 *
 * The input, NUL-terminated, is checked (tmpl_check with fixed params) and rendered in a
 * fixed context whose XCom and Variable callbacks answer from small tables. Invariants: a
 * check error's offset is inside the input; a render never fails with an empty message; a
 * template that renders also checks, except where only the context decides (checking sees
 * conf, XComs and variables as "any" value, so the converse does not hold) and for unknown
 * names, attributes, filters and tags, which are load errors even in a branch a render skips. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "template/template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
xcom(void *arg, const char *task_id, const char *key, int map_index, char **json_out, struct err *e)
{
    (void)arg, (void)key, (void)map_index;
    *json_out = NULL;
    if (strcmp(task_id, "fail") == 0)
        return err_set(e, ERR_DB, "no database");
    if (strcmp(task_id, "none") != 0)
        *json_out = strdup(strcmp(task_id, "a") == 0 ? "{\"k\": [1, \"x\", null]}" : "\"v\"");
    return 0;
}

static int
var(void *arg, const char *key, char **value_out, struct err *e)
{
    (void)arg, (void)e;
    *value_out = strcmp(key, "unset") == 0 ? NULL : strdup("{\"j\": 1}");
    return 0;
}

static const char params[] = "{\"n\": 3, \"s\": \"x\", \"l\": [1, 2.5, true]}";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct tmpl_ctx ctx = {
        .dag_id = "d",
        .task_id = "t",
        .run_id = "manual__2024-03-10T05:06:07+00:00",
        /* the instant tmpl_check evaluates dates at, so both see the same ds */
        .logical_date = 0,
        .data_interval_start = 0,
        .data_interval_end = 0,
        .try_number = 1,
        .params_json = params,
        .conf_json = "{\"c\": {\"d\": [\"<&>\", 1e300, -0.0]}, \"e\": \"\"}",
        .xcom_pull = xcom,
        .var_get = var,
    };
    char *src = malloc(size + 1), *out = NULL;
    struct err e = {0};
    size_t off = 0;

    if (src == NULL)
        return 0;
    memcpy(src, data, size);
    src[size] = '\0';
    int checked = tmpl_check(src, params, &off, &e);
    if (checked < 0 && (off > strlen(src) || e.msg[0] == '\0'))
        abort();
    bool unknown_name = checked < 0 && strncmp(e.msg, "unknown ", 8) == 0;
    (void)tmpl_has_syntax(src);
    if (tmpl_render(src, &ctx, &out, &e) == 0) {
        if (out == NULL || (checked < 0 && !unknown_name))
            abort();
        free(out);
    } else if (out != NULL || e.msg[0] == '\0') {
        abort();
    }
    free(src);
    return 0;
}
