/* uaparse: browser and OS families of a User-Agent string, from the ua-parser project's
 * regexes.yaml (Debian package uap-core, /usr/share/uap-core/regexes.yaml: the file every
 * language's ua-parser port uses), matched with PCRE2.
 *
 * The semantics are ua-parser's: the parsers of a section (user_agent_parsers, os_parsers) are
 * tried in file order and the first regex that matches wins; family_replacement /
 * os_replacement and v1..v3 replacements may hold $1..$9, replaced by the match's groups;
 * without a replacement a field is the group of its position (family = $1, major = $2, ...).
 * regex_flag: 'i' makes a regex case-insensitive. No match: family "Other", no version. The
 * answers equal python3-ua-parser's on uap-core's own test cases (tests/unit/test_uaparse.c
 * runs them). */
#ifndef GUST_UAPARSE_H
#define GUST_UAPARSE_H

#include <stddef.h>

#include "err.h"

/* The compiled regexes and one match buffer that uaparse_parse writes: not thread-safe, one
 * instance per thread. */
struct uaparse;

/* One answer. Each field is "" when unknown; family is "Other" when nothing matched. */
struct uaparse_result {
    char browser[64], browser_major[16], browser_minor[16];
    char os[64], os_major[16], os_minor[16];
};

/* Load and compile regexes.yaml at path (NULL: UAPARSE_DEFAULT_PATH). A file that is missing,
 * not the expected YAML or holds a regex PCRE2 refuses is an error naming the file, the line and
 * the regex. new. */
#define UAPARSE_DEFAULT_PATH "/usr/share/uap-core/regexes.yaml"
struct uaparse *uaparse_new(const char *path, struct err *e);
void uaparse_free(struct uaparse *u);

/* Parse ua (len bytes, need not be NUL-terminated). A byte that is not part of valid UTF-8
 * matches nothing (the rest of ua is matched as usual), so every field is valid UTF-8. */
void uaparse_parse(const struct uaparse *u, const char *ua, size_t len, struct uaparse_result *r);

/* "Chrome 83" / "Android 10" / "Other": family and major version, as dim_user_agent stores
 * them; buf of size n. Returns buf. */
const char *uaparse_browser_label(const struct uaparse_result *r, char *buf, size_t n);
const char *uaparse_os_label(const struct uaparse_result *r, char *buf, size_t n);

#endif
