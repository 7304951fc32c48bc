/* template_int: what the template*.c files share and nothing else includes (jansson types
 * stay out of template.h). template.c: lexer, API; template_block.c: text, tags and blocks;
 * template_eval.c: the expression parser-evaluator and the context; template_ops.c: binary
 * operators and bound names; template_macros.c: macros.datetime/timedelta/...; and
 * template_value.c: str(), filters, JSON output. */
#ifndef GUST_TEMPLATE_INT_H
#define GUST_TEMPLATE_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "template/template.h"

/* Growable output; on allocation failure oom is set and later adds are dropped. */
struct tmpl_sb {
    char *p;
    size_t n, cap;
    bool oom;
};
/* Append n bytes (kept NUL-terminated). */
void tmpl_sb_add(struct tmpl_sb *b, const char *p, size_t n);
/* Append a C string. */
void tmpl_sb_puts(struct tmpl_sb *b, const char *s);

enum tmpl_tk {
    T_END, /* "}}" or "-}}" (strip set) */
    T_NAME,
    T_STR,
    T_INT,
    T_REAL,
    T_DOT,
    T_LBRACK,
    T_RBRACK,
    T_LPAREN,
    T_RPAREN,
    T_PIPE,
    T_TILDE,
    T_COMMA,
    T_ASSIGN,
    T_MINUS,
    T_BEND, /* "%}" or "-%}" (strip set) */
    T_PLUS,
    T_STAR,
    T_SLASH,
    T_DSLASH, /* // */
    T_PERCENT,
    T_EQ,
    T_NE,
    T_LT,
    T_LE,
    T_GT,
    T_GE,
};

struct tmpl_tok {
    enum tmpl_tk k;
    size_t off;
    char *str; /* T_NAME, T_STR (decoded, may hold NULs: slen) */
    size_t slen;
    long long i;
    double d;
    bool strip;
};

enum tmpl_vk {
    V_ANY,   /* checking: known only when a try starts; every operation succeeds */
    V_JSON,  /* j */
    V_TIME,  /* t, a UTC instant (pendulum DateTime in Airflow) */
    V_OBJ,   /* id: enum tmpl_obj, a context object (dag, ti, macros ...) */
    V_FN,    /* id: enum tmpl_fn, a function; bound to t or j when it is a method */
    V_UNDEF, /* msg at off: raised when used, except by | default */
    V_DELTA, /* t, a number of seconds (datetime.timedelta) */
};

enum tmpl_obj {
    O_DAG,
    O_TASK,
    O_TI,
    O_MACROS,
    O_VAR,
    O_VAR_VALUE,
    O_VAR_JSON,
    O_DAG_RUN,
    O_CONN,      /* the `conn` accessor */
    O_CONN_ITEM, /* conn.<id>: j holds its fields (NULL when checking) */
    O_LOOP,      /* a for loop's `loop`: loop_i of loop_n (loop_n < 0: checking) */
    O_DATETIME,  /* macros.datetime: callable, and .utcnow() */
};
enum tmpl_fn {
    F_XCOM_PULL,
    F_DS_ADD,
    F_DS_FORMAT,
    F_STRFTIME,
    F_ISOFORMAT,
    F_GET,      /* dict.get(key, default=None) */
    F_VAR_GET,  /* var.value.get(key, default=None) */
    F_VARJ_GET, /* var.json.get(key, default=None) */
    F_DATETIME, /* macros.datetime(y, m, d, ...) */
    F_TIMEDELTA,
    F_DIFF_HUMANS, /* macros.datetime_diff_for_humans(dt, since=None) */
    F_UTCNOW,
    F_RANGE,
    F_TOTAL_SECONDS,
    F_ITEMS,  /* dict.items(): a list of [key, value] pairs */
    F_KEYS,   /* dict.keys() */
    F_VALUES, /* dict.values() */
};

struct tmpl_val {
    enum tmpl_vk k;
    int id;
    json_t *j; /* owned reference (V_JSON, bound F_GET) */
    time_t t;
    bool naive; /* V_TIME: a naive datetime (macros.datetime), printed without offset */
    long long loop_i, loop_n; /* O_LOOP */
    bool params;              /* the params object: misses are "unknown param" */
    char *msg;                /* V_UNDEF */
    size_t off;               /* V_UNDEF */
};

/* The state of one check or render. ctx NULL: checking. */
struct tmpl_state {
    const char *src;
    size_t len, pos;
    size_t open; /* offset of the current "{{" */
    size_t expr; /* offset of the current expression's first token */
    struct tmpl_tok tok;
    const struct tmpl_ctx *ctx;
    json_t *params, *conf;
    struct err *e;
    size_t eoff;
    int depth; /* nesting of the expression being parsed (TMPL_DEPTH_MAX) */
    bool failed;
    /* Blocks: evaluation is skipped (an untaken branch, the other side of `and`): values
     * are "any", nothing is written or assigned, and only syntax and names are checked. */
    int skip;
    bool lstrip;               /* the last tag ended with '-': strip the next text's start */
    struct tmpl_local *locals; /* {% set %} and loop variables, innermost last */
    size_t nlocals, cap_locals, scope; /* scope: where the innermost for body's start */
    long long iters;                   /* loop iterations so far (TMPL_ITER_MAX) */
    int blocks;                        /* nesting of blocks (TMPL_DEPTH_MAX) */
    bool has_if;                       /* the source has the word "if" (an inline if is possible) */
};

/* A name bound by {% set %} or {% for %}. */
struct tmpl_local {
    char *name;
    struct tmpl_val v;
};

/* Bounds so that no template can hang or exhaust the scheduler: loop iterations in one
 * render, and the size of the output and of any string or list a template builds. */
#define TMPL_ITER_MAX 100000
#define TMPL_SIZE_MAX (4u << 20)

/* How deeply an expression may nest (parentheses, calls, lists, unary minus): the parser is
 * recursive, and a hostile template must get an error, not exhaust the stack. */
#define TMPL_DEPTH_MAX 64

/* Whether evaluation is skipped (see struct tmpl_state). */
#define TMPL_SKIPPING(s) ((s)->skip > 0)

/* The first error (later ones are ignored). Always -1. */
int tmpl_fail(struct tmpl_state *s, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Empty v (release what it holds): it becomes V_ANY. */
void tmpl_val_clear(struct tmpl_val *v);
/* Make v the JSON value j (steals j; NULL means out of memory). */
int tmpl_val_json(struct tmpl_state *s, struct tmpl_val *v, json_t *j, size_t off);
/* Make v undefined: an error raised only if it is used. */
int tmpl_val_undef(struct tmpl_state *s, struct tmpl_val *v, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Raise v when it is undefined (any use but `| default`). */
int tmpl_raise(struct tmpl_state *s, const struct tmpl_val *v);
/* The next token of the expression into s->tok (template.c). */
int tmpl_next(struct tmpl_state *s);
/* Whether the name token is followed by '=' (a keyword argument), without consuming. */
bool tmpl_peek_assign(const struct tmpl_state *s);

/* Parse and evaluate the expression at s->tok into *v (template_eval.c). */
int tmpl_expr(struct tmpl_state *s, struct tmpl_val *v);
/* The same below the inline `if` (for loops' `in`): or_expr. */
int tmpl_or_expr(struct tmpl_state *s, struct tmpl_val *v);
/* A copy of v into *out. */
int tmpl_val_copy(struct tmpl_state *s, const struct tmpl_val *v, struct tmpl_val *out);
/* Bind name to v (stolen) in the innermost scope. */
int tmpl_local_set(struct tmpl_state *s, const char *name, struct tmpl_val *v, size_t off);
/* Drop the locals from index n on. */
void tmpl_locals_pop(struct tmpl_state *s, size_t n);
/* Whether the next word in the source (after s->tok) is w. */
bool tmpl_peek_word(const struct tmpl_state *s, const char *w);

struct tmpl_arg;

/* Binary operator op (a token kind, or T_NAME for `in`) on a and b into *a (template_ops.c). */
int tmpl_binop(struct tmpl_state *s, int op, struct tmpl_val *a, struct tmpl_val *b, size_t off);
/* Check that a built string or list of n bytes/items stays within TMPL_SIZE_MAX. */
int tmpl_size_ok(struct tmpl_state *s, size_t n, size_t off);
/* The text, tags and blocks from s->pos (template_block.c): see there. */
int tmpl_body(struct tmpl_state *s, struct tmpl_sb *out, const char *const *stops, char **stop);

/* macros.datetime / timedelta / datetime_diff_for_humans, range() (template_macros.c). */
int tmpl_macro_call(struct tmpl_state *s, int fn, struct tmpl_arg *args, size_t n, size_t off,
                    struct tmpl_val *out);
/* str() of a timedelta of secs seconds, as Python prints it. */
void tmpl_fmt_delta(long long secs, char buf[TMPL_TIME_BUF]);

/* An attribute of conn or of conn.<id> (template_conn.c). */
int tmpl_conn_attr(struct tmpl_state *s, struct tmpl_val *v, const char *name, size_t off);

/* A call's argument. */
struct tmpl_arg {
    char *name; /* keyword, or NULL */
    size_t off;
    struct tmpl_val v;
};
#define TMPL_MAX_ARGS 8

/* str(v) appended to out (NULL: checking, nothing written) (template_value.c). */
int tmpl_val_str(struct tmpl_state *s, const struct tmpl_val *v, struct tmpl_sb *out);
/* str(v) as a new string in *str (NULL for V_ANY). */
int tmpl_val_to_cstr(struct tmpl_state *s, const struct tmpl_val *v, char **str);
/* Apply filter name (at off) to *v in place. */
int tmpl_filter(struct tmpl_state *s, const char *name, size_t off, struct tmpl_val *v,
                struct tmpl_arg *args, size_t n);
/* Jinja truthiness. */
bool tmpl_truthy(const struct tmpl_val *v);

#endif
