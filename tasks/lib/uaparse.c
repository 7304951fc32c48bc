/* uaparse: a User-Agent's browser and OS from ua-parser's regexes.yaml (see uaparse.h).
 *
 * Loading reads the YAML with libyaml's event API: the sections user_agent_parsers and
 * os_parsers become arrays of rules (a compiled PCRE2 regex and up to three replacements);
 * reading stops once both are in, so device_parsers (the largest part of the file) is never
 * parsed. Regexes are compiled with PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF: \d, \w,
 * \s and . mean what they mean in the Python reference (str patterns on str subjects), and a
 * byte that is not part of valid UTF-8 matches nothing, so every capture, and so every answer,
 * is valid UTF-8. JIT is used when PCRE2 has it.
 *
 * Semantics, as python3-ua-parser 0.16 (the reference) has them:
 * - the rules of a section are tried in file order; the first whose family comes out non-empty
 *   wins (a rule that matches but yields an empty family does not stop the search);
 * - a field with a replacement is the replacement with $1..$9 replaced by the match's groups
 *   (a group that did not take part, or does not exist, is ""; $0 is the last group, an
 *   accident of the reference kept on purpose); the OS section's replacements are then trimmed
 *   of white space at both ends, the browser section's are not. An empty replacement counts as
 *   none. (The reference substitutes only $1 in family_replacement and nothing in v1/v2
 *   replacements of the browser section; regexes.yaml has no replacement where that differs.)
 * - a field without a replacement is the group of its position (family $1, major $2, minor
 *   $3). The reference takes group N only when match.lastindex >= N, lastindex being the last
 *   group to close; this takes it when it took part. The two agree for every regex without
 *   nested or repeated groups; the only nested one of regexes.yaml (FxiOS) nests past group 3.
 * - regex_flag: 'i' (caseless) is honoured in both sections, as uap-core's specification has
 *   it; the reference reads it only in device_parsers, and regexes.yaml has none elsewhere.
 * Fields are cut to their buffer at a UTF-8 character boundary. On uap-core's test strings
 * (30662 of them) every field equals the reference's (tests/integration/uaparse_crosscheck.py).
 *
 * Not thread-safe: an instance owns one match buffer and one JIT stack that uaparse_parse
 * writes; give each thread its own instance. */
#include "uaparse.h"

#define PCRE2_CODE_UNIT_WIDTH 8

#include <errno.h>
#include <pcre2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

enum { NREPL = 3 };           /* family, major, minor */
enum { SCRATCH = 1024 };      /* a replacement's expansion before it is cut to its field */
enum { SHOW_REGEX = 60 };     /* bytes of a regex quoted in an error message */
enum { JIT_STACK = 1 << 20 }; /* the most a JIT match may use */

struct rule {
    pcre2_code *re;
    uint32_t ngroups;
    char *repl[NREPL]; /* NULL: the group of the field's position */
};

struct section {
    struct rule *rules;
    size_t n, cap;
    bool loaded;
};

struct uaparse {
    struct section ua, os;
    uint32_t max_groups;
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jit;
};

/* Keys of a rule, per section: index 0 is the family's replacement. */
static const char *const UA_KEYS[NREPL] = {"family_replacement", "v1_replacement",
                                           "v2_replacement"};
static const char *const OS_KEYS[NREPL] = {"os_replacement", "os_v1_replacement",
                                           "os_v2_replacement"};

/* ---- loading ---- */

/* What the reader is at: the file (for messages), libyaml, the current event. */
struct reader {
    const char *path;
    yaml_parser_t p;
    yaml_event_t ev;
    bool have_ev;
    struct err *e;
};

static int
next_event(struct reader *r)
{
    if (r->have_ev)
        yaml_event_delete(&r->ev);
    r->have_ev = false;
    if (!yaml_parser_parse(&r->p, &r->ev)) {
        const yaml_mark_t *m = &r->p.problem_mark;
        if (r->p.error == YAML_READER_ERROR)
            return err_set(r->e, ERR_PARSE, "%s: invalid YAML: %s at byte %zu", r->path,
                           r->p.problem ? r->p.problem : "unreadable text", r->p.problem_offset);
        return err_set(r->e, ERR_PARSE, "%s:%zu:%zu: invalid YAML: %s%s%s", r->path, m->line + 1,
                       m->column + 1, r->p.problem ? r->p.problem : "syntax error",
                       r->p.context ? " " : "", r->p.context ? r->p.context : "");
    }
    r->have_ev = true;
    return 0;
}

static int
unexpected(struct reader *r, const char *what)
{
    return err_set(r->e, ERR_PARSE, "%s:%zu: %s", r->path, r->ev.start_mark.line + 1, what);
}

/* Skips the node whose first event is current (a scalar, or a whole collection). */
static int
skip_node(struct reader *r)
{
    size_t depth = 0;

    do {
        yaml_event_type_t t = r->ev.type;
        if (t == YAML_SEQUENCE_START_EVENT || t == YAML_MAPPING_START_EVENT)
            depth++;
        else if (t == YAML_SEQUENCE_END_EVENT || t == YAML_MAPPING_END_EVENT)
            depth--;
        if (depth > 0 && next_event(r) < 0)
            return -1;
    } while (depth > 0);
    return 0;
}

static const char *
scalar(const struct reader *r)
{
    return (const char *)r->ev.data.scalar.value;
}

/* Whether the current scalar is empty or YAML's null: the reference sees "" or None, and
 * either is no replacement. */
static bool
scalar_none(const struct reader *r)
{
    const char *s = scalar(r);

    return s[0] == '\0' || (r->ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
                            (strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
                             strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0));
}

static int
compile_rule(struct reader *r, struct rule *ru, const char *regex, size_t line, bool caseless)
{
    uint32_t opts = PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF;
    int code;
    PCRE2_SIZE off;

    if (caseless)
        opts |= PCRE2_CASELESS;
    ru->re = pcre2_compile((PCRE2_SPTR)regex, PCRE2_ZERO_TERMINATED, opts, &code, &off, NULL);
    if (ru->re == NULL) {
        PCRE2_UCHAR msg[120];
        pcre2_get_error_message(code, msg, sizeof(msg));
        return err_set(r->e, ERR_PARSE, "%s:%zu: regex '%.*s%s': %s at offset %zu", r->path, line,
                       SHOW_REGEX, regex, strlen(regex) > SHOW_REGEX ? "..." : "",
                       (const char *)msg, (size_t)off);
    }
    (void)pcre2_jit_compile(ru->re, PCRE2_JIT_COMPLETE); /* without JIT: the interpreter */
    pcre2_pattern_info(ru->re, PCRE2_INFO_CAPTURECOUNT, &ru->ngroups);
    return 0;
}

/* The fields of one rule, read from its mapping (current event: MAPPING_START). */
struct fields {
    char *regex;
    size_t line; /* of the regex, or of the mapping */
    bool caseless;
    char *repl[NREPL];
};

static void
fields_clear(struct fields *f)
{
    free(f->regex);
    for (int i = 0; i < NREPL; i++)
        free(f->repl[i]);
    memset(f, 0, sizeof(*f));
}

static int
read_value(struct reader *r, struct fields *f, const char *key, const char *const keys[NREPL])
{
    char **slot = NULL;

    if (r->ev.type != YAML_SCALAR_EVENT)
        return strcmp(key, "regex") == 0 ? unexpected(r, "regex is not a string") : skip_node(r);
    if (strcmp(key, "regex") == 0) {
        slot = &f->regex;
        f->line = r->ev.start_mark.line + 1;
    } else if (strcmp(key, "regex_flag") == 0) {
        f->caseless = strcmp(scalar(r), "i") == 0;
    }
    for (int i = 0; i < NREPL && slot == NULL; i++)
        if (strcmp(key, keys[i]) == 0)
            slot = &f->repl[i];
    if (slot == NULL || (slot != &f->regex && scalar_none(r)))
        return 0;
    free(*slot);
    *slot = strdup(scalar(r));
    return *slot ? 0 : err_set(r->e, ERR_FAIL, "out of memory");
}

static int
read_fields(struct reader *r, struct fields *f, const char *const keys[NREPL])
{
    f->line = r->ev.start_mark.line + 1;
    for (;;) {
        if (next_event(r) < 0)
            return -1;
        if (r->ev.type == YAML_MAPPING_END_EVENT)
            break;
        if (r->ev.type != YAML_SCALAR_EVENT)
            return unexpected(r, "a parser's key is not a string");
        char *key = strdup(scalar(r));
        if (key == NULL)
            return err_set(r->e, ERR_FAIL, "out of memory");
        int rc = next_event(r) < 0 ? -1 : read_value(r, f, key, keys);
        free(key);
        if (rc < 0)
            return -1;
    }
    if (f->regex == NULL)
        return err_set(r->e, ERR_PARSE, "%s:%zu: a parser without a regex", r->path, f->line);
    return 0;
}

static int
add_rule(struct reader *r, struct section *s, const char *const keys[NREPL])
{
    struct fields f = {0};
    struct rule *ru;
    int rc = -1;

    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 256;
        struct rule *grown = realloc(s->rules, cap * sizeof(*grown));
        if (grown == NULL)
            return err_set(r->e, ERR_FAIL, "out of memory");
        s->rules = grown;
        s->cap = cap;
    }
    if (read_fields(r, &f, keys) < 0)
        goto out;
    ru = &s->rules[s->n];
    memset(ru, 0, sizeof(*ru));
    if (compile_rule(r, ru, f.regex, f.line, f.caseless) < 0)
        goto out;
    memcpy(ru->repl, f.repl, sizeof(ru->repl));
    memset(f.repl, 0, sizeof(f.repl));
    s->n++;
    rc = 0;
out:
    fields_clear(&f);
    return rc;
}

/* One section's sequence of rules (current event: the key's scalar). */
static int
read_section(struct reader *r, struct section *s, const char *const keys[NREPL])
{
    if (s->loaded)
        return unexpected(r, "a section given twice");
    if (next_event(r) < 0)
        return -1;
    if (r->ev.type != YAML_SEQUENCE_START_EVENT)
        return unexpected(r, "a section that is not a list");
    for (;;) {
        if (next_event(r) < 0)
            return -1;
        if (r->ev.type == YAML_SEQUENCE_END_EVENT)
            break;
        if (r->ev.type != YAML_MAPPING_START_EVENT)
            return unexpected(r, "a parser that is not a mapping");
        if (add_rule(r, s, keys) < 0)
            return -1;
    }
    s->loaded = true;
    return 0;
}

/* The top mapping, until both sections are in (the rest of the file is not read). */
static int
read_top(struct reader *r, struct uaparse *u)
{
    do {
        if (next_event(r) < 0)
            return -1;
    } while (r->ev.type == YAML_STREAM_START_EVENT || r->ev.type == YAML_DOCUMENT_START_EVENT);
    if (r->ev.type != YAML_MAPPING_START_EVENT)
        return unexpected(r, "not a mapping of parser sections");
    while (!(u->ua.loaded && u->os.loaded)) {
        if (next_event(r) < 0)
            return -1;
        if (r->ev.type == YAML_MAPPING_END_EVENT)
            return err_set(r->e, ERR_PARSE, "%s: no %s section", r->path,
                           u->ua.loaded ? "os_parsers" : "user_agent_parsers");
        if (r->ev.type != YAML_SCALAR_EVENT)
            return unexpected(r, "a section name that is not a string");
        int rc = strcmp(scalar(r), "user_agent_parsers") == 0 ? read_section(r, &u->ua, UA_KEYS)
                 : strcmp(scalar(r), "os_parsers") == 0       ? read_section(r, &u->os, OS_KEYS)
                 : next_event(r) < 0                          ? -1
                                                              : skip_node(r);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int
load(struct uaparse *u, const char *path, struct err *e)
{
    struct reader r = {.path = path, .e = e};
    FILE *f = fopen(path, "rb");
    int rc;

    if (f == NULL)
        return err_set(e, errno == ENOENT ? ERR_NOTFOUND : ERR_IO, "%s: %s", path, strerror(errno));
    if (!yaml_parser_initialize(&r.p)) {
        fclose(f);
        return err_set(e, ERR_FAIL, "out of memory");
    }
    yaml_parser_set_input_file(&r.p, f);
    rc = read_top(&r, u);
    if (r.have_ev)
        yaml_event_delete(&r.ev);
    yaml_parser_delete(&r.p);
    fclose(f);
    return rc;
}

/* The match buffer fits the rule with the most groups; the JIT stack replaces the default
 * 32 KiB one, which a long User-Agent can exhaust. */
static int
make_match_state(struct uaparse *u, struct err *e)
{
    const struct section *secs[2] = {&u->ua, &u->os};

    for (int s = 0; s < 2; s++)
        for (size_t i = 0; i < secs[s]->n; i++)
            if (secs[s]->rules[i].ngroups > u->max_groups)
                u->max_groups = secs[s]->rules[i].ngroups;
    u->md = pcre2_match_data_create(u->max_groups + 1, NULL);
    u->mctx = pcre2_match_context_create(NULL);
    if (u->md == NULL || u->mctx == NULL)
        return err_set(e, ERR_FAIL, "out of memory");
    u->jit = pcre2_jit_stack_create(32 * 1024, JIT_STACK, NULL);
    if (u->jit != NULL) /* NULL: no JIT in this PCRE2, or no memory; the default stack then */
        pcre2_jit_stack_assign(u->mctx, NULL, u->jit);
    return 0;
}

struct uaparse *
uaparse_new(const char *path, struct err *e)
{
    struct uaparse *u = calloc(1, sizeof(*u));

    if (path == NULL)
        path = UAPARSE_DEFAULT_PATH;
    if (u == NULL) {
        err_set(e, ERR_FAIL, "out of memory");
        return NULL;
    }
    if (load(u, path, e) < 0 || make_match_state(u, e) < 0) {
        uaparse_free(u);
        return NULL;
    }
    return u;
}

static void
section_clear(struct section *s)
{
    for (size_t i = 0; i < s->n; i++) {
        pcre2_code_free(s->rules[i].re);
        for (int k = 0; k < NREPL; k++)
            free(s->rules[i].repl[k]);
    }
    free(s->rules);
    memset(s, 0, sizeof(*s));
}

void
uaparse_free(struct uaparse *u)
{
    if (u == NULL)
        return;
    section_clear(&u->ua);
    section_clear(&u->os);
    pcre2_match_data_free(u->md);
    pcre2_match_context_free(u->mctx);
    pcre2_jit_stack_free(u->jit);
    free(u);
}

/* ---- matching ---- */

/* One match: the subject and where its groups are. */
struct match {
    const char *subject;
    const PCRE2_SIZE *ov;
    int top; /* pcre2_match's result: 1 + the highest group that took part */
};

/* Group g of m (g >= 1), or NULL when it does not exist or did not take part. */
static const char *
group(const struct match *m, int g, size_t *len)
{
    if (g >= m->top || m->ov[2 * g] == PCRE2_UNSET)
        return NULL;
    *len = m->ov[2 * g + 1] - m->ov[2 * g];
    return m->subject + m->ov[2 * g];
}

/* Copies n bytes of s into dst (size cap), cut at a UTF-8 character boundary. */
static void
put(char *dst, size_t cap, const char *s, size_t n)
{
    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(dst, s, n);
    dst[n] = '\0';
}

/* The length of the white space character (Python's \s on str) at s[0..n), or 0. */
static size_t
space_len(const unsigned char *s, size_t n)
{
    unsigned c;

    if (n >= 1 && ((s[0] >= 0x09 && s[0] <= 0x0D) || (s[0] >= 0x1C && s[0] <= 0x20)))
        return 1;
    if (n >= 2 && s[0] == 0xC2 && (s[1] == 0x85 || s[1] == 0xA0))
        return 2;
    if (n < 3 || (s[0] != 0xE1 && s[0] != 0xE2 && s[0] != 0xE3))
        return 0;
    c = (unsigned)(s[0] & 0x0F) << 12 | (unsigned)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
    return c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
                   c == 0x202F || c == 0x205F || c == 0x3000
               ? 3
               : 0;
}

/* s[0..*n) without white space at its ends; returns the new start. */
static const char *
trim(const char *s, size_t *n)
{
    size_t k;

    while (*n > 0 && (k = space_len((const unsigned char *)s, *n)) > 0) {
        s += k;
        *n -= k;
    }
    while (*n > 0) {
        size_t start = *n - 1;
        while (start > 0 && ((unsigned char)s[start] & 0xC0) == 0x80)
            start--;
        k = space_len((const unsigned char *)s + start, *n - start);
        if (k == 0 || start + k != *n)
            break;
        *n = start;
    }
    return s;
}

/* repl with $0..$9 replaced by m's groups ($0: the last group), into buf (size SCRATCH, cut
 * there); returns the length. */
static size_t
expand(const char *repl, const struct match *m, uint32_t ngroups, char *buf)
{
    size_t n = 0;

    for (const char *p = repl; *p && n < SCRATCH; p++) {
        const char *g = NULL;
        size_t len = 0;
        if (p[0] != '$' || p[1] < '0' || p[1] > '9') {
            buf[n++] = *p;
            continue;
        }
        int k = p[1] == '0' ? (int)ngroups : p[1] - '0';
        p++;
        if (k >= 1 && (uint32_t)k <= ngroups)
            g = group(m, k, &len);
        if (g == NULL)
            continue;
        if (len > SCRATCH - n)
            len = SCRATCH - n;
        memcpy(buf + n, g, len);
        n += len;
    }
    return n;
}

/* Field i of a matched rule into dst (size cap). */
static void
field(const struct rule *ru, int i, const struct match *m, bool trim_repl, char *dst, size_t cap)
{
    char buf[SCRATCH];
    const char *s;
    size_t n = 0;

    if (ru->repl[i] != NULL) {
        n = expand(ru->repl[i], m, ru->ngroups, buf);
        s = trim_repl ? trim(buf, &n) : buf;
    } else {
        s = group(m, i + 1, &n);
    }
    put(dst, cap, s ? s : "", s ? n : 0);
}

/* Runs one rule; returns whether it matched (m filled). A match that fails for another reason
 * than "no match" (the JIT stack or PCRE2's backtracking limit exhausted) is retried without
 * JIT once, then counts as no match. */
static bool
run(const struct uaparse *u, const struct rule *ru, const char *ua, size_t len, struct match *m)
{
    int rc = pcre2_match(ru->re, (PCRE2_SPTR)ua, len, 0, 0, u->md, u->mctx);

    if (rc < 0 && rc != PCRE2_ERROR_NOMATCH)
        rc = pcre2_match(ru->re, (PCRE2_SPTR)ua, len, 0, PCRE2_NO_JIT, u->md, u->mctx);
    if (rc <= 0)
        return false;
    m->subject = ua;
    m->ov = pcre2_get_ovector_pointer(u->md);
    m->top = rc;
    return true;
}

/* The three fields of an answer: family, major, minor, with their sizes. */
struct out {
    char *f[NREPL];
    size_t cap[NREPL];
};

/* The first rule of s whose family comes out non-empty fills the three fields. */
static void
parse_section(const struct uaparse *u, const struct section *s, bool trim_repl, const char *ua,
              size_t len, const struct out *o)
{
    struct match m;

    for (size_t i = 0; i < s->n; i++) {
        const struct rule *ru = &s->rules[i];
        if (!run(u, ru, ua, len, &m))
            continue;
        field(ru, 0, &m, trim_repl, o->f[0], o->cap[0]);
        if (o->f[0][0] == '\0')
            continue;
        for (int k = 1; k < NREPL; k++)
            field(ru, k, &m, trim_repl, o->f[k], o->cap[k]);
        return;
    }
    put(o->f[0], o->cap[0], "Other", 5);
}

void
uaparse_parse(const struct uaparse *u, const char *ua, size_t len, struct uaparse_result *r)
{
    const struct out browser = {
        {r->browser, r->browser_major, r->browser_minor},
        {sizeof(r->browser), sizeof(r->browser_major), sizeof(r->browser_minor)}};
    const struct out os = {{r->os, r->os_major, r->os_minor},
                           {sizeof(r->os), sizeof(r->os_major), sizeof(r->os_minor)}};

    memset(r, 0, sizeof(*r));
    if (ua == NULL) {
        ua = "";
        len = 0;
    }
    parse_section(u, &u->ua, false, ua, len, &browser);
    parse_section(u, &u->os, true, ua, len, &os);
}

static const char *
label(const char *family, const char *major, char *buf, size_t n)
{
    char full[sizeof(((struct uaparse_result *)0)->browser) + 1 +
              sizeof(((struct uaparse_result *)0)->browser_major)];

    if (n == 0)
        return buf;
    snprintf(full, sizeof(full), major[0] ? "%s %s" : "%s", family, major);
    put(buf, n, full, strlen(full)); /* cut, when n is small, at a character boundary */
    return buf;
}

const char *
uaparse_browser_label(const struct uaparse_result *r, char *buf, size_t n)
{
    return label(r->browser, r->browser_major, buf, n);
}

const char *
uaparse_os_label(const struct uaparse_result *r, char *buf, size_t n)
{
    return label(r->os, r->os_major, buf, n);
}
