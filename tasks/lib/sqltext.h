/* sqltext: SQL text handling for sql_task, pure (no database): splitting a text into
 * statements, rewriting psycopg2 placeholders to libpq's $n, quoting identifiers, and a
 * growable text buffer with JSON string escaping.
 *
 * What the scanner knows of PostgreSQL's lexical rules: '...' strings ('' doubles a quote),
 * E'...' strings (backslash escapes), "..." identifiers ("" doubles a quote), -- comments to
 * the end of the line, nested block comments, and dollar quotes $tag$...$tag$. Text inside
 * those is never split and never holds a placeholder. SQL-standard function bodies (BEGIN
 * ATOMIC ... END) are not known: their inner ';' split the text, as with sqlparse. */
#ifndef GUST_SQLTEXT_H
#define GUST_SQLTEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/* A growable NUL-terminated text. {0} is empty; sqlbuf_clear frees it. After an allocation
 * failure `failed` is set and later additions do nothing (check once at the end). */
struct sqlbuf {
    char *s;
    size_t len, cap;
    bool failed;
};

void sqlbuf_add(struct sqlbuf *b, const char *s);
void sqlbuf_addn(struct sqlbuf *b, const char *s, size_t n);
void sqlbuf_addf(struct sqlbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s as a JSON string ("..." with JSON escapes; invalid UTF-8 is copied as is). */
void sqlbuf_json_str(struct sqlbuf *b, const char *s);
/* The text so far ("" when empty; borrowed). */
const char *sqlbuf_str(const struct sqlbuf *b);
/* Free the text; b is empty afterwards. */
void sqlbuf_clear(struct sqlbuf *b);

/* Split text on ';' outside strings, identifiers, comments and dollar quotes. Each
 * statement is trimmed of surrounding white space and of its ';'; pieces holding only white
 * space and comments are dropped. *out gets a new NULL-terminated array of new strings
 * (sqltext_list_free), *n its length (0 when the text holds no statement). */
int sqltext_split(const char *text, char ***out, size_t *n, struct err *e);

/* Free a list from sqltext_split (NULL ok). */
void sqltext_list_free(char **list);

/* True when text holds nothing but white space and comments. */
bool sqltext_is_empty(const char *text);

/* Placeholder styles of psycopg2: "%s" takes the next value of a list, "%(name)s" the value
 * of a mapping's key. */
enum sqltext_style { SQLTEXT_LIST, SQLTEXT_NAMED };

/* A statement rewritten for libpq: sql uses $1..$n, map[k] is the index in the parameters
 * of $k+1. */
struct sqltext_bound {
    char *sql;
    size_t *map;
    size_t n;
};

/* Rewrite psycopg2 placeholders of one statement to $1..$n, outside strings, identifiers,
 * comments and dollar quotes; "%%" becomes "%" everywhere (psycopg2 formats the whole
 * text). LIST: each "%s" takes value *cursor and advances it; more placeholders than
 * nvalues is an error. NAMED: "%(name)s" must name one of names[0..nvalues-1]; a name used
 * twice is one $k. A "%s" with a mapping, a "%(name)s" with a list, or a lone '%' in the SQL
 * is an error (ERR_USAGE, saying what and where: "offset N"). out is filled on success
 * (sqltext_bound_clear). */
int sqltext_bind(const char *sql, enum sqltext_style style, size_t nvalues,
                 const char *const *names, size_t *cursor, struct sqltext_bound *out,
                 struct err *e);

/* Free what sqltext_bind filled (b itself is the caller's). */
void sqltext_bound_clear(struct sqltext_bound *b);

/* Quote a (possibly schema-qualified) name for SQL: each dot-separated part that is a plain
 * identifier ([A-Za-z_][A-Za-z0-9_$]*) is folded to lower case as PostgreSQL folds it and
 * double-quoted; a part already written "quoted" is kept; any other part is double-quoted
 * as is (an exact name), '"' doubled. Returns a new string, or NULL with ERR_USAGE for an
 * empty name or part, or an unterminated quote. */
char *sqltext_quote_ident(const char *name, struct err *e);

#endif
