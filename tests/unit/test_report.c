/* Unit tests for tasks/lib/report: CSV fields and tables (RFC 4180 quoting, NULL as empty,
 * CRLF), labels for gnuplot (control characters, quotes, UTF-8-safe truncation, defaults),
 * HTML and Markdown escaping, whole-file writes, mkdir -p, and gnuplot runs (a stand-in
 * program: exit status, the folder it runs in, a program that does not exist). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "report.h"

/* What a writer callback printed, as a new string. */
static char *
capture(void (*write)(FILE *, const char *), const char *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    assert_non_null(f);
    write(f, s);
    fclose(f);
    return buf;
}

static void
assert_written(void (*write)(FILE *, const char *), const char *s, const char *want)
{
    char *got = capture(write, s);
    assert_string_equal(got, want);
    free(got);
}

static void
test_csv_field(void **state)
{
    (void)state;
    assert_written(report_csv_field, "plain", "plain");
    assert_written(report_csv_field, "", "");
    assert_written(report_csv_field, NULL, "");
    assert_written(report_csv_field, "a,b", "\"a,b\"");
    assert_written(report_csv_field, "say \"hi\"", "\"say \"\"hi\"\"\"");
    assert_written(report_csv_field, "two\nlines", "\"two\nlines\"");
    assert_written(report_csv_field, "cr\r", "\"cr\r\"");
    assert_written(report_csv_field, " padded", "\" padded\"");
    assert_written(report_csv_field, "Nhẫn vàng", "Nhẫn vàng");
}

static void
test_csv_table(void **state)
{
    const char *cols[] = {"key", "name", "views"};
    const char *row1[] = {"P1", "Ring, gold", "3"};
    const char *row2[] = {"P2", NULL, "1"};
    struct report_table *t = report_table_new(3, cols);
    struct err e = {0};
    char *buf = NULL;
    size_t len = 0;
    FILE *f;

    (void)state;
    assert_non_null(t);
    assert_int_equal(report_table_add(t, row1, &e), 0);
    assert_int_equal(report_table_add(t, row2, &e), 0);
    assert_int_equal(t->nrows, 2);
    assert_null(report_cell(t, 1, 1));
    assert_null(report_cell(t, 2, 0));
    assert_string_equal(report_cell(t, 0, 1), "Ring, gold");
    f = open_memstream(&buf, &len);
    report_csv(f, t);
    fclose(f);
    assert_string_equal(buf, "key,name,views\r\nP1,\"Ring, gold\",3\r\nP2,,1\r\n");
    free(buf);
    report_table_free(t);
    report_table_free(NULL);
}

static void
test_label(void **state)
{
    char buf[64];

    (void)state;
    assert_string_equal(report_label("a\tb\nc\"d\"", 40, "-", buf, sizeof(buf)), "a b c'd'");
    assert_string_equal(report_label("#1 ring", 40, "-", buf, sizeof(buf)), "#1 ring");
    assert_string_equal(report_label("abcdef", 3, "-", buf, sizeof(buf)), "abc...");
    assert_string_equal(report_label("abc", 3, "-", buf, sizeof(buf)), "abc");
    /* truncation counts characters, and never cuts one in half */
    assert_string_equal(report_label("ẫẫẫẫ", 2, "-", buf, sizeof(buf)), "ẫẫ...");
    assert_string_equal(report_label("", 10, "(none)", buf, sizeof(buf)), "(none)");
    assert_string_equal(report_label(NULL, 10, "(none)", buf, sizeof(buf)), "(none)");
    assert_string_equal(report_label("\n\t", 10, "(none)", buf, sizeof(buf)), "(none)");
    /* a buffer too small still ends in a terminated, whole-character string */
    char small[12];
    report_label("ẫẫẫẫẫẫẫẫ", 40, "-", small, sizeof(small));
    assert_true(strlen(small) < sizeof(small) && strlen(small) % 3 == 0);
}

static void
test_escape(void **state)
{
    (void)state;
    assert_written(report_html, "<b>\"Tom\" & 'Jerry'</b>",
                   "&lt;b&gt;&quot;Tom&quot; &amp; &#39;Jerry&#39;&lt;/b&gt;");
    assert_written(report_html, NULL, "");
    assert_written(report_md, "a|b *c* [x](y) <i>\nz", "a\\|b \\*c\\* \\[x\\](y) \\<i\\> z");
    assert_written(report_md, "https://x.example/p?a=1", "https://x.example/p?a=1");
}

static void
test_files(void **state)
{
    char dir[] = "/tmp/test_report.XXXXXX", path[256], buf[16] = "";
    struct err e = {0};
    FILE *f;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/a/b/c", dir);
    assert_int_equal(report_mkdir_p(path, &e), 0);
    assert_int_equal(report_mkdir_p(path, &e), 0); /* again: already there */
    snprintf(path, sizeof(path), "%s/a/file.txt", dir);
    assert_int_equal(report_write_file(path, "hello", 5, &e), 0);
    assert_int_equal(report_write_file(path, "bye", 3, &e), 0);
    f = fopen(path, "r");
    assert_non_null(f);
    assert_int_equal(fread(buf, 1, sizeof(buf) - 1, f), 3);
    fclose(f);
    assert_string_equal(buf, "bye");
    snprintf(path, sizeof(path), "%s/a/file.txt.tmp", dir);
    assert_int_equal(access(path, F_OK), -1); /* no temp file left */
    snprintf(path, sizeof(path), "%s/a/file.txt/sub", dir);
    assert_int_equal(report_mkdir_p(path, &e), -1); /* a file is in the way */
    assert_int_equal(e.code, ERR_IO);
    snprintf(path, sizeof(path), "rm -rf '%s'", dir);
    assert_int_equal(system(path), 0);
}

/* gnuplot replaced by sh: the script runs in the given folder; exit status reported. */
static void
test_gnuplot(void **state)
{
    char dir[] = "/tmp/test_report.XXXXXX", path[256];
    struct err e = {0};

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/ok.gp", dir);
    assert_int_equal(report_write_file(path, "echo drawn > out.png\n", 21, &e), 0);
    snprintf(path, sizeof(path), "%s/bad.gp", dir);
    assert_int_equal(report_write_file(path, "exit 3\n", 7, &e), 0);
    assert_int_equal(report_gnuplot("sh", dir, "ok.gp", &e), 0);
    snprintf(path, sizeof(path), "%s/out.png", dir);
    assert_int_equal(access(path, F_OK), 0);
    assert_int_equal(report_gnuplot("sh", dir, "bad.gp", &e), -1);
    assert_non_null(strstr(e.msg, "bad.gp: exit status 3"));
    assert_int_equal(report_gnuplot("/nonexistent/gnuplot", dir, "ok.gp", &e), -1);
    assert_int_equal(e.code, ERR_NOTFOUND);
    assert_non_null(strstr(e.msg, "gnuplot-nox"));
    snprintf(path, sizeof(path), "rm -rf '%s'", dir);
    assert_int_equal(system(path), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_field), cmocka_unit_test(test_csv_table),
        cmocka_unit_test(test_label),     cmocka_unit_test(test_escape),
        cmocka_unit_test(test_files),     cmocka_unit_test(test_gnuplot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
