/* test_shellwords: which BashOperator commands run without bash (scheduler/runner/
 * shellwords.c), and how they are split: every shell character, control character and
 * first word bash runs itself keeps bash; plain words split on blanks only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "runner/shellwords.h"

static void
test_plain(void **state)
{
    static const char *const direct[] = {
        "true",
        "echo hello world",
        "  /usr/bin/env   false  ",
        "python3 -m mod --flag value",
        "\tprintenv HOME",
        "run.sh a-b_c,d.e:f/g@h+i",
        "echo -n x",
        "cat /tmp/é.txt",
        "truefalse --help",
        "./script 2026-12-04T00:00:00+00:00",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(direct) / sizeof(*direct); i++)
        if (!shellwords_plain(direct[i]))
            fail_msg("'%s' should run directly", direct[i]);
}

static void
test_shell_chars(void **state)
{
    static const char chars[] = "#;\"*?[]&|<>(){}$`'\\~=!%^\n\r\v\f\x01\x7f";
    char cmd[32];

    (void)state;
    for (const char *c = chars; *c; c++) {
        snprintf(cmd, sizeof(cmd), "echo a%cb", *c);
        if (shellwords_plain(cmd))
            fail_msg("'%s' (byte 0x%02x) should go to bash", cmd, (unsigned char)*c);
        snprintf(cmd, sizeof(cmd), "%cecho", *c);
        if (shellwords_plain(cmd))
            fail_msg("'%s' (byte 0x%02x) should go to bash", cmd, (unsigned char)*c);
    }
}

static void
test_bash_words(void **state)
{
    static const char *const bash[] = {
        "",
        " \t ",
        NULL,
        "cd /tmp",
        "exit 3",
        "export A",
        "set -e",
        "source f",
        ". f",
        ": nothing",
        "eval x",
        "exec prog",
        "read x",
        "wait",
        "trap x 1",
        "ulimit -n 10",
        "umask 022",
        "alias x",
        "if true",
        "for x in a",
        "while true",
        "case x in",
        "function f",
        "[[ x ]]",
        "test -f x",
        "time sleep 1",
        "pwd",
        "kill 1",
        "printf x",
        "type ls",
        "command -v ls",
        "hash",
        "shopt -s x",
        "unset X",
        "local x",
        "return 1",
        "echo --help",
        "true --version",
        "false a --help",
        "select x",
        "coproc x",
        "let x",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(bash) / sizeof(*bash); i++)
        if (shellwords_plain(bash[i]))
            fail_msg("'%s' should go to bash", bash[i] ? bash[i] : "(null)");
    /* A builtin's name later on the line is only a word. */
    assert_true(shellwords_plain("sudo cd"));
    assert_true(shellwords_plain("echo exit"));
    assert_true(shellwords_plain("cdrecord x"));
    assert_true(shellwords_plain("echo x--help"));
}

static void
check_split(const char *cmd, const char *const *want)
{
    char **v = shellwords_split(cmd);
    size_t i;

    assert_non_null(v);
    for (i = 0; want[i] != NULL; i++) {
        assert_non_null(v[i]);
        assert_string_equal(v[i], want[i]);
    }
    assert_null(v[i]);
    for (i = 0; v[i] != NULL; i++)
        free(v[i]);
    free(v);
}

static void
test_split(void **state)
{
    (void)state;
    check_split("true", (const char *const[]){"true", NULL});
    check_split("  echo \t hello  world\t", (const char *const[]){"echo", "hello", "world", NULL});
    check_split("/usr/bin/env false", (const char *const[]){"/usr/bin/env", "false", NULL});
    check_split("a-b c.d e/f", (const char *const[]){"a-b", "c.d", "e/f", NULL});
    check_split("", (const char *const[]){NULL});
    check_split(" \t ", (const char *const[]){NULL});
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_shell_chars),
        cmocka_unit_test(test_bash_words),
        cmocka_unit_test(test_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
