/* shellwords: which BashOperator commands run without bash (see shellwords.h). */
#include "runner/shellwords.h"

#include <stdlib.h>
#include <string.h>

/* Bytes that mean something to bash somewhere in a command line. Wider than make's sh_chars:
 * quotes and backslashes (make removes them itself), '=' (an assignment, or a word make
 * would pass whole), '%' (job specs), '^' (make's list: the old Bourne pipe). */
static const char SH_CHARS[] = "#;\"*?[]&|<>(){}$`'\\~=!%^";

/* What bash runs itself as the first word: its keywords and builtins (bash 5.2, `help`), and
 * what it would look up as a function or alias first. echo, true and false have programs
 * that behave the same: they run directly, as in make. */
static const char *const SH_WORDS[] = {
    ".",       ":",        "[",      "[[",      "]]",       "alias",   "bg",        "bind",
    "break",   "builtin",  "caller", "case",    "cd",       "command", "compgen",   "complete",
    "compopt", "continue", "coproc", "declare", "dirs",     "disown",  "do",        "done",
    "elif",    "else",     "enable", "esac",    "eval",     "exec",    "exit",      "export",
    "fc",      "fg",       "fi",     "for",     "function", "getopts", "hash",      "help",
    "history", "if",       "in",     "jobs",    "kill",     "let",     "local",     "logout",
    "mapfile", "popd",     "printf", "pushd",   "pwd",      "read",    "readarray", "readonly",
    "return",  "select",   "set",    "shift",   "shopt",    "source",  "suspend",   "test",
    "then",    "time",     "times",  "trap",    "type",     "typeset", "ulimit",    "umask",
    "unalias", "unset",    "until",  "wait",    "while",    NULL,
};

static bool
is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* The word at p (up to a blank or the end) equals w. */
static bool
word_is(const char *p, size_t len, const char *w)
{
    return strlen(w) == len && memcmp(p, w, len) == 0;
}

bool
shellwords_plain(const char *cmd)
{
    const char *first, *p;
    size_t len;

    if (cmd == NULL)
        return false;
    for (p = cmd; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if ((c < 0x20 && c != '\t') || c == 0x7f || strchr(SH_CHARS, c) != NULL)
            return false;
    }
    for (first = cmd; is_blank(*first); first++)
        ;
    if (*first == '\0')
        return false; /* empty: bash, as always */
    len = strcspn(first, " \t");
    for (size_t i = 0; SH_WORDS[i] != NULL; i++)
        if (word_is(first, len, SH_WORDS[i]))
            return false;
    if (word_is(first, len, "echo") || word_is(first, len, "true") || word_is(first, len, "false"))
        for (p = first + len; *p;) {
            size_t n;
            while (is_blank(*p))
                p++;
            n = strcspn(p, " \t");
            if (word_is(p, n, "--help") || word_is(p, n, "--version"))
                return false;
            p += n;
        }
    return true;
}

char **
shellwords_split(const char *cmd)
{
    size_t n = 0, k = 0;
    const char *p;
    char **v;

    for (p = cmd; *p;) {
        while (is_blank(*p))
            p++;
        if (*p == '\0')
            break;
        n++;
        p += strcspn(p, " \t");
    }
    if ((v = calloc(n + 1, sizeof(*v))) == NULL)
        return NULL;
    for (p = cmd; k < n;) {
        size_t len;
        while (is_blank(*p))
            p++;
        len = strcspn(p, " \t");
        if ((v[k] = strndup(p, len)) == NULL) {
            while (k > 0)
                free(v[--k]);
            free(v);
            return NULL;
        }
        k++;
        p += len;
    }
    return v;
}
