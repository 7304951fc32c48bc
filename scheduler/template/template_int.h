/* template_int: what the template*.c files share and nothing else includes (jansson types
 * stay out of template.h). template.c: lexer, text, API; template_eval.c: the expression
 * parser-evaluator and the context; template_value.c: str(), filters, JSON output. */
#ifndef GUST_TEMPLATE_INT_H
#define GUST_TEMPLATE_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "template/template.h"

/* Growable output; on allocation failure oom is set and later adds are dropped. */
struct tsb {
    char *p;
    size_t n, cap;
    bool oom;
};
void tsb_add(struct tsb *b, const char *p, size_t n);
void tsb_puts(struct tsb *b, const char *s);

enum tk {
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
};

struct tok {
    enum tk k;
    size_t off;
    char *str; /* T_NAME, T_STR (decoded, may hold NULs: slen) */
    size_t slen;
    long long i;
    double d;
    bool strip;
};

enum vk {
    V_ANY,   /* checking: known only when a try starts; every operation succeeds */
    V_JSON,  /* j */
    V_TIME,  /* t, a UTC instant (pendulum DateTime in Airflow) */
    V_OBJ,   /* id: enum tobj, a context object (dag, ti, macros ...) */
    V_FN,    /* id: enum tfn, a function; bound to t or j when it is a method */
    V_UNDEF, /* msg at off: raised when used, except by | default */
};

enum tobj { O_DAG, O_TASK, O_TI, O_MACROS, O_VAR, O_VAR_VALUE, O_VAR_JSON, O_DAG_RUN };
enum tfn {
    F_XCOM_PULL,
    F_DS_ADD,
    F_DS_FORMAT,
    F_STRFTIME,
    F_ISOFORMAT,
    F_GET,      /* dict.get(key, default=None) */
    F_VAR_GET,  /* var.value.get(key, default=None) */
    F_VARJ_GET, /* var.json.get(key, default=None) */
};

struct tval {
    enum vk k;
    int id;
    json_t *j; /* owned reference (V_JSON, bound F_GET) */
    time_t t;
    bool params; /* the params object: misses are "unknown param" */
    char *msg;   /* V_UNDEF */
    size_t off;  /* V_UNDEF */
};

/* The state of one check or render. ctx NULL: checking. */
struct tst {
    const char *src;
    size_t len, pos;
    size_t open; /* offset of the current "{{" */
    size_t expr; /* offset of the current expression's first token */
    struct tok tok;
    const struct tmpl_ctx *ctx;
    json_t *params, *conf;
    struct err *e;
    size_t eoff;
    bool failed;
};

/* The first error (later ones are ignored). Always -1. */
int tfail(struct tst *s, size_t off, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void tval_free(struct tval *v);
int tval_json(struct tst *s, struct tval *v, json_t *j, size_t off);
int tval_undef(struct tst *s, struct tval *v, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int traise(struct tst *s, const struct tval *v);
int tnext(struct tst *s);
bool tpeek_assign(const struct tst *s);

/* Parse and evaluate the expression at s->tok into *v (template_eval.c). */
int texpr(struct tst *s, struct tval *v);

/* A call's argument. */
struct targ {
    char *name; /* keyword, or NULL */
    size_t off;
    struct tval v;
};
#define TMAX_ARGS 8

/* str(v) appended to out (NULL: checking, nothing written) (template_value.c). */
int tval_str(struct tst *s, const struct tval *v, struct tsb *out);
/* str(v) as a new string in *str (NULL for V_ANY). */
int tval_to_cstr(struct tst *s, const struct tval *v, char **str);
/* Apply filter name (at off) to *v in place. */
int tfilter(struct tst *s, const char *name, size_t off, struct tval *v, struct targ *args,
            size_t n);
/* Jinja truthiness. */
bool ttruthy(const struct tval *v);

#endif
