/* Unit tests for tasks/lib/uaparse (browser and OS of a User-Agent, ua-parser's regexes.yaml).
 *
 * The oracle is uap-core's own test data (Debian package uap-core), independent of this code:
 * every case of its browser files (tests/test_ua.yaml and test_resources/ firefox, pgts,
 * opera_mini, podcasting) is checked on family, major and minor, and every case of its OS files
 * (tests/test_os.yaml, test_resources/additional_os_tests.yaml) on os family, major and minor.
 * No case is excused: EXCEPTIONS below lists the ones known to differ, and is empty (a case
 * that fails and is not listed fails the test; a listed case that passes fails it too, so the
 * list cannot go stale). Then named cases (Android, iPhone, a bot, empty and non-terminated
 * input, invalid UTF-8), the labels and their cut, the replacement rules on a small regexes
 * file of our own ($N, a group that did not take part, trimming, regex_flag, an empty family
 * that lets the next rule try), and the errors: missing file, bad YAML, a regex PCRE2 refuses
 * (named with its line), a parser without a regex, a missing section. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "uaparse.h"

#define UAP "/usr/share/uap-core/"

static const char *const UA_FILES[] = {
    UAP "tests/test_ua.yaml",
    UAP "test_resources/firefox_user_agent_strings.yaml",
    UAP "test_resources/pgts_browser_list.yaml",
    UAP "test_resources/opera_mini_user_agent_strings.yaml",
    UAP "test_resources/podcasting_user_agent_strings.yaml",
    NULL,
};
static const char *const OS_FILES[] = {
    UAP "tests/test_os.yaml",
    UAP "test_resources/additional_os_tests.yaml",
    NULL,
};

/* Cases of uap-core's test data where uaparse is known to answer otherwise than the file
 * (with why); none today: PCRE2 with UTF and UCP agrees with Python's re on all of them. */
static const char *const EXCEPTIONS[] = {NULL};

/* One test case: the User-Agent and the expected family, major, minor ("" for none). */
struct tcase {
    char *ua, *want[3];
    size_t line;
};

struct cases {
    struct tcase *v;
    size_t n, cap;
};

static const char *const CASE_KEYS[3] = {"family", "major", "minor"};

/* The value of a plain-scalar null is "" (YAML's ~, null, or nothing). */
static char *
scalar_text(const yaml_event_t *ev)
{
    const char *s = (const char *)ev->data.scalar.value;

    if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
        (s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0))
        s = "";
    return strdup(s);
}

/* Stores the value event ev for key in c (keys other than the four are ignored). */
static void
case_set(struct tcase *c, const char *key, const yaml_event_t *ev)
{
    char **slot = strcmp(key, "user_agent_string") == 0 ? &c->ua : NULL;

    for (int i = 0; i < 3 && slot == NULL; i++)
        if (strcmp(key, CASE_KEYS[i]) == 0)
            slot = &c->want[i];
    if (slot == NULL)
        return;
    assert_int_equal(ev->type, YAML_SCALAR_EVENT);
    free(*slot);
    *slot = scalar_text(ev);
}

/* Every mapping of the file's test_cases list, appended to cs: a small event reader (the
 * files are a mapping with one key, test_cases, whose items are flat mappings). */
static void
load_cases(const char *path, struct cases *cs)
{
    FILE *f = fopen(path, "rb");
    yaml_parser_t p;
    yaml_event_t ev;
    char *key = NULL;
    int depth = 0, done = 0;

    if (f == NULL)
        fail_msg("%s: cannot open (is uap-core installed?)", path);
    assert_true(yaml_parser_initialize(&p));
    yaml_parser_set_input_file(&p, f);
    while (!done) {
        if (!yaml_parser_parse(&p, &ev))
            fail_msg("%s:%zu: bad YAML", path, p.problem_mark.line + 1);
        done = ev.type == YAML_STREAM_END_EVENT;
        if (ev.type == YAML_MAPPING_START_EVENT && ++depth == 2) {
            if (cs->n == cs->cap) {
                cs->cap = cs->cap ? 2 * cs->cap : 1024;
                cs->v = realloc(cs->v, cs->cap * sizeof(*cs->v));
                assert_non_null(cs->v);
            }
            cs->v[cs->n++] = (struct tcase){.line = ev.start_mark.line + 1};
        } else if (ev.type == YAML_MAPPING_END_EVENT) {
            depth--;
        } else if (depth == 2 && ev.type == YAML_SCALAR_EVENT && key == NULL) {
            key = strdup((const char *)ev.data.scalar.value);
        } else if (depth == 2 && key != NULL) {
            case_set(&cs->v[cs->n - 1], key, &ev);
            free(key);
            key = NULL;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    fclose(f);
}

static void
cases_free(struct cases *cs)
{
    for (size_t i = 0; i < cs->n; i++) {
        free(cs->v[i].ua);
        for (int k = 0; k < 3; k++)
            free(cs->v[i].want[k]);
    }
    free(cs->v);
}

/* want cut as uaparse cuts a field of size cap (at a UTF-8 character boundary). */
static void
cut(char *want, size_t cap)
{
    size_t n = strlen(want);

    if (n < cap)
        return;
    n = cap - 1;
    while (n > 0 && ((unsigned char)want[n] & 0xC0) == 0x80)
        n--;
    want[n] = '\0';
}

static int
is_exception(const char *ua)
{
    for (const char *const *x = EXCEPTIONS; *x; x++)
        if (strcmp(*x, ua) == 0)
            return 1;
    return 0;
}

/* Runs every case of files through u; os selects the OS fields. Returns the failures that
 * are not exceptions (each printed); *total and *passed count the cases. */
static int
run_files(const struct uaparse *u, const char *const files[], int os, size_t *total, size_t *passed)
{
    int bad = 0;

    for (const char *const *f = files; *f; f++) {
        struct cases cs = {0};
        load_cases(*f, &cs);
        assert_true(cs.n > 0);
        for (size_t i = 0; i < cs.n; i++) {
            struct tcase *c = &cs.v[i];
            struct uaparse_result r;
            assert_non_null(c->ua);
            uaparse_parse(u, c->ua, strlen(c->ua), &r);
            const char *got[3] = {os ? r.os : r.browser, os ? r.os_major : r.browser_major,
                                  os ? r.os_minor : r.browser_minor};
            int ok = 1;
            for (int k = 0; k < 3; k++) {
                assert_non_null(c->want[k]);
                cut(c->want[k], k == 0 ? sizeof(r.os) : sizeof(r.os_major));
                ok &= strcmp(got[k], c->want[k]) == 0;
            }
            (*total)++;
            *passed += ok;
            if (ok != !is_exception(c->ua)) {
                bad++;
                print_message("%s:%zu: %s: got %s/%s/%s, want %s/%s/%s%s\n", *f, c->line, c->ua,
                              got[0], got[1], got[2], c->want[0], c->want[1], c->want[2],
                              ok ? " (listed as an exception, but passes)" : "");
            }
        }
        cases_free(&cs);
    }
    return bad;
}

static int
setup(void **state)
{
    struct err e = {0};

    *state = uaparse_new(NULL, &e);
    if (*state == NULL)
        print_error("uaparse_new: %s\n", e.msg);
    return *state ? 0 : -1;
}

static int
teardown(void **state)
{
    uaparse_free(*state);
    return 0;
}

static void
test_uap_core_browsers(void **state)
{
    size_t total = 0, passed = 0;
    int bad = run_files(*state, UA_FILES, 0, &total, &passed);

    print_message("uap-core browser cases: %zu of %zu pass\n", passed, total);
    assert_true(total > 14000);
    assert_int_equal(bad, 0);
}

static void
test_uap_core_os(void **state)
{
    size_t total = 0, passed = 0;
    int bad = run_files(*state, OS_FILES, 1, &total, &passed);

    print_message("uap-core os cases: %zu of %zu pass\n", passed, total);
    assert_true(total > 450);
    assert_int_equal(bad, 0);
}

/* Parses ua (a C string) with u. */
static struct uaparse_result
parse(const struct uaparse *u, const char *ua)
{
    struct uaparse_result r;

    uaparse_parse(u, ua, strlen(ua), &r);
    return r;
}

static void
assert_labels(const struct uaparse_result *r, const char *browser, const char *os)
{
    char buf[96];

    assert_string_equal(uaparse_browser_label(r, buf, sizeof(buf)), browser);
    assert_string_equal(uaparse_os_label(r, buf, sizeof(buf)), os);
}

static void
test_named_user_agents(void **state)
{
    struct uaparse_result r;

    r = parse(*state, "Mozilla/5.0 (Linux; Android 10; SM-G975F) AppleWebKit/537.36 (KHTML, "
                      "like Gecko) Chrome/83.0.4103.106 Mobile Safari/537.36");
    assert_labels(&r, "Chrome Mobile 83", "Android 10");
    assert_string_equal(r.browser_minor, "0");
    r = parse(*state, "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                      "Chrome/83.0.4103.116 Safari/537.36");
    assert_labels(&r, "Chrome 83", "Linux");
    r = parse(*state, "Mozilla/5.0 (iPhone; CPU iPhone OS 13_5 like Mac OS X) AppleWebKit/605.1.15"
                      " (KHTML, like Gecko) Version/13.1.1 Mobile/15E148 Safari/604.1");
    assert_labels(&r, "Mobile Safari 13", "iOS 13");
    assert_string_equal(r.browser_minor, "1");
    assert_string_equal(r.os_minor, "5");
    r = parse(*state, "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)");
    assert_labels(&r, "Googlebot 2", "Other");
    assert_string_equal(r.browser_minor, "1");
    assert_string_equal(r.os_major, "");
    r = parse(*state, "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:78.0) Gecko/20100101 "
                      "Firefox/78.0");
    assert_labels(&r, "Firefox 78", "Windows 10");
}

static void
test_empty_and_unterminated(void **state)
{
    static const char buf[] = "Googlebot/2.1 and then Chrome/83.0.1 Safari/1";
    struct uaparse_result r;

    r = parse(*state, "");
    assert_labels(&r, "Other", "Other");
    assert_string_equal(r.browser_major, "");
    uaparse_parse(*state, NULL, 0, &r);
    assert_labels(&r, "Other", "Other");
    /* only the first 13 bytes are the User-Agent: what follows must not be seen */
    uaparse_parse(*state, buf, 13, &r);
    assert_labels(&r, "Googlebot 2", "Other");
    assert_string_equal(r.browser_minor, "1");
    uaparse_parse(*state, buf, 12, &r);
    assert_string_equal(r.browser_minor, "");
}

/* Whether s is valid UTF-8 (structure only: enough to catch a cut or a stray byte). */
static int
utf8_ok(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        int n = *p < 0x80                  ? 0
                : *p >= 0xC2 && *p <= 0xDF ? 1
                : *p >= 0xE0 && *p <= 0xEF ? 2
                : *p >= 0xF0 && *p <= 0xF4 ? 3
                                           : -1;
        if (n < 0)
            return 0;
        for (p++; n > 0; n--, p++)
            if ((*p & 0xC0) != 0x80)
                return 0;
    }
    return 1;
}

static void
test_invalid_utf8(void **state)
{
    struct uaparse_result r;

    /* a stray byte elsewhere does not stop the match */
    r = parse(*state, "Mozilla/5.0 (Linux; Android 10; \xff\xfe) AppleWebKit/537.36 (KHTML, like "
                      "Gecko) Chrome/83.0.4103.106 Mobile Safari/537.36");
    assert_labels(&r, "Chrome Mobile 83", "Android 10");
    /* a family made of the group: an invalid byte is never part of it */
    r = parse(*state, "Foo\xc3 Bar/1.2 (compatible; bingbot/2.0; \xe2\x82 x)");
    assert_true(utf8_ok(r.browser) && utf8_ok(r.os));
    /* a long family is cut inside its buffer, not inside a character */
    r = parse(*state, "Mozilla/5.0 (Linux; Android 10; "
                      "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                      "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                      "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                      "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                      "bot/1.0)");
    assert_true(utf8_ok(r.browser) && strlen(r.browser) < sizeof(r.browser));
}

static void
test_label_cut(void **state)
{
    struct uaparse_result r = {.browser = "Caf\xc3\xa9", .browser_major = "12"};
    char buf[16];

    (void)state;
    assert_string_equal(uaparse_browser_label(&r, buf, sizeof(buf)), "Caf\xc3\xa9 12");
    assert_string_equal(uaparse_browser_label(&r, buf, 5), "Caf"); /* not half of the é */
    assert_string_equal(uaparse_browser_label(&r, buf, 6), "Caf\xc3\xa9");
    assert_string_equal(uaparse_browser_label(&r, buf, 1), "");
    memcpy(r.os, "Other", 6);
    assert_string_equal(uaparse_os_label(&r, buf, sizeof(buf)), "Other");
}

/* A folder for regexes files of our own. */
struct tmp {
    char dir[64];
    char path[128];
};

static const char *
write_file(struct tmp *t, const char *name, const char *text)
{
    FILE *f;

    if (t->dir[0] == '\0') {
        strcpy(t->dir, "/tmp/test_uaparse.XXXXXX");
        assert_non_null(mkdtemp(t->dir));
    }
    snprintf(t->path, sizeof(t->path), "%s/%s", t->dir, name);
    f = fopen(t->path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    return t->path;
}

/* Removes the folder and the files the tests write there. */
static void
tmp_clear(struct tmp *t)
{
    static const char *const names[] = {"rules.yaml",   "badre.yaml",  "badyaml.yaml",
                                        "noregex.yaml", "noos.yaml",   "list.yaml",
                                        "bigre.yaml",   "notstr.yaml", NULL};

    if (t->dir[0] == '\0')
        return;
    for (const char *const *n = names; *n; n++) {
        snprintf(t->path, sizeof(t->path), "%s/%s", t->dir, *n);
        unlink(t->path);
    }
    assert_int_equal(rmdir(t->dir), 0);
}

/* The rules of the reference, on a file that exercises them (device_parsers comes first here
 * and is skipped; the os section's null replacement is "none"). */
static const char RULES[] = "user_agent_parsers:\n"
                            "  - regex: '()Skip/(\\d+)'\n"
                            "  - regex: '(Skip)/(\\d+)'\n"
                            "    family_replacement: 'Skipped $1'\n"
                            "  - regex: '(Sub)/(\\d+)\\.(\\d+)(?:-(\\w+))?'\n"
                            "    family_replacement: '$1-$4-$9 $0'\n"
                            "    v1_replacement: 'v$2'\n"
                            "    v2_replacement: ''\n"
                            "  - regex: 'caseless/(\\d+)'\n"
                            "    regex_flag: 'i'\n"
                            "    family_replacement: 'Caseless'\n"
                            "  - regex: '(Spaced)/(\\d+)'\n"
                            "    family_replacement: '  $1  '\n"
                            "device_parsers:\n"
                            "  - regex: '(unused'\n"
                            "    device_replacement: {not: [a, string]}\n"
                            "os_parsers:\n"
                            "  - regex: '(Tr)(im)?/(\\d+)\\.(\\d+)'\n"
                            "    os_replacement: \"\\t$1 $2 \\u3000\"\n"
                            "    os_v1_replacement: '$4'\n"
                            "    os_v2_replacement: ~\n"
                            "  - regex: '(Blank)/(\\d+)'\n"
                            "    os_replacement: ' $9 '\n"
                            "  - regex: '(Blank)/(\\d+)'\n"
                            "    os_replacement: 'Second $1'\n"
                            "    os_v1_replacement: ' $2 '\n";

static void
expect(const struct uaparse *u, const char *ua, const char *const want[6])
{
    struct uaparse_result r = parse(u, ua);
    const char *got[6] = {r.browser, r.browser_major, r.browser_minor,
                          r.os,      r.os_major,      r.os_minor};

    for (int i = 0; i < 6; i++)
        if (strcmp(got[i], want[i]) != 0)
            fail_msg("%s: field %d is '%s', want '%s'", ua, i, got[i], want[i]);
}

static void
test_replacement_rules(void **state)
{
    struct tmp t = {0};
    struct err e = {0};
    struct uaparse *u = uaparse_new(write_file(&t, "rules.yaml", RULES), &e);

    (void)state;
    if (u == NULL)
        fail_msg("%s", e.msg);
    /* an empty family (group 1 matched "") lets the next rule try */
    expect(u, "Skip/5", (const char *const[]){"Skipped Skip", "5", "", "Other", "", ""});
    /* $N of a group that did not take part or does not exist is "", $0 the last group */
    expect(u, "Sub/1.2", (const char *const[]){"Sub-- ", "v1", "2", "Other", "", ""});
    expect(u, "Sub/1.2-beta", (const char *const[]){"Sub-beta- beta", "v1", "2", "Other", "", ""});
    expect(u, "CASELESS/3", (const char *const[]){"Caseless", "", "", "Other", "", ""});
    /* the browser section's replacements are not trimmed, the os section's are */
    expect(u, "Spaced/4", (const char *const[]){"  Spaced  ", "4", "", "Other", "", ""});
    expect(u, "Tr/7.8", (const char *const[]){"Other", "", "", "Tr", "8", "7"});
    expect(u, "Trim/7.8", (const char *const[]){"Other", "", "", "Tr im", "8", "7"});
    /* an os_replacement that trims to "" is no family: the next rule wins */
    expect(u, "Blank/6", (const char *const[]){"Other", "", "", "Second Blank", "6", ""});
    expect(u, "nothing", (const char *const[]){"Other", "", "", "Other", "", ""});
    uaparse_free(u);
    tmp_clear(&t);
}

/* uaparse_new(text as a file) fails with code and a message holding each of parts (one that
 * starts with '/' is in the temporary folder). */
static void
expect_error(struct tmp *t, const char *name, const char *text, enum err_code code,
             const char *const parts[])
{
    struct err e = {0};
    struct uaparse *u = uaparse_new(write_file(t, name, text), &e);
    char where[160];

    assert_null(u);
    assert_int_equal(e.code, code);
    for (const char *const *p = parts; *p; p++) {
        snprintf(where, sizeof(where), "%s%s", (*p)[0] == '/' ? t->dir : "", *p);
        if (strstr(e.msg, where) == NULL)
            fail_msg("'%s' lacks '%s'", e.msg, where);
    }
}

static void
test_errors(void **state)
{
    struct tmp t = {0};
    struct err e = {0};

    (void)state;
    assert_null(uaparse_new("/nonexistent/regexes.yaml", &e));
    assert_int_equal(e.code, ERR_NOTFOUND);
    assert_non_null(strstr(e.msg, "/nonexistent/regexes.yaml"));
    assert_null(uaparse_new("/nonexistent/regexes.yaml", NULL)); /* e is optional */
    expect_error(&t, "badre.yaml",
                 "user_agent_parsers:\n  - regex: 'Good/(\\d+)'\n\n  - regex: 'Bad/(\\d+'\n"
                 "os_parsers: []\n",
                 ERR_PARSE, (const char *const[]){"/badre.yaml:4:", "'Bad/(\\d+'", NULL});
    expect_error(&t, "bigre.yaml",
                 "os_parsers: []\nuser_agent_parsers:\n  - regex: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa[z'\n",
                 ERR_PARSE, (const char *const[]){"/bigre.yaml:3:", "aaaa...'", NULL});
    expect_error(&t, "badyaml.yaml", "user_agent_parsers:\n  - regex: 'open\n  - [\n", ERR_PARSE,
                 (const char *const[]){"/badyaml.yaml:", "invalid YAML", NULL});
    expect_error(&t, "noregex.yaml",
                 "user_agent_parsers:\n  - regex: 'A'\n  - family_replacement: 'B'\n", ERR_PARSE,
                 (const char *const[]){"/noregex.yaml:3:", "without a regex", NULL});
    expect_error(&t, "noos.yaml", "user_agent_parsers:\n  - regex: 'A'\n", ERR_PARSE,
                 (const char *const[]){"/noos.yaml: no os_parsers section", NULL});
    expect_error(&t, "list.yaml", "- a\n- b\n", ERR_PARSE,
                 (const char *const[]){"/list.yaml:1:", NULL});
    expect_error(&t, "notstr.yaml", "os_parsers:\n  - regex: [a]\n", ERR_PARSE,
                 (const char *const[]){"/notstr.yaml:2:", "regex is not a string", NULL});
    tmp_clear(&t);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uap_core_browsers), cmocka_unit_test(test_uap_core_os),
        cmocka_unit_test(test_named_user_agents), cmocka_unit_test(test_empty_and_unterminated),
        cmocka_unit_test(test_invalid_utf8),      cmocka_unit_test(test_label_cut),
        cmocka_unit_test(test_replacement_rules), cmocka_unit_test(test_errors),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
