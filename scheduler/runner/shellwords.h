/* shellwords: which BashOperator commands run without bash, and their argv.
 *
 * As GNU make does for its recipe lines (job.c, sh_chars and sh_cmds): a command that holds
 * no shell syntax at all is split on blanks and executed directly, saving bash's start; any
 * character bash could give a meaning to, or a first word bash runs itself (a keyword or a
 * builtin), keeps bash. Conservative: a command that would be the same under bash may still
 * go to bash, never the other way round (docs/dag-files.md, "BashOperator"). */
#ifndef GUST_SHELLWORDS_H
#define GUST_SHELLWORDS_H

#include <stdbool.h>

/* True when cmd is one simple command of plain words: printable ASCII or UTF-8 bytes and
 * blanks (space, tab) only, none of # ; " * ? [ ] & | < > ( ) { } $ ` ' \ ~ = ! % ^ nor a
 * newline or other control character, at least one word, and a first word that bash does
 * not run itself (keywords, builtins; echo, true and false are run as programs, as make
 * does, except with --help or --version, which their programs answer). */
bool shellwords_plain(const char *cmd);

/* cmd split on blanks: a NULL-terminated argv of new strings (free each, then the array),
 * empty (argv[0] NULL) for a blank cmd; NULL when out of memory. */
char **shellwords_split(const char *cmd);

#endif
