/* dagfile_node: reading the YAML tree: mapping lookup, scalar typing as PyYAML does it for
 * plain scalars (YAML 1.1: yes/no/on/off are booleans, ~ is null), dag-factory's merge of
 * `default` under each DAG, $VAR expansion and YAML -> JSON text for params and conf.
 *
 * Invariant: a quoted scalar is always a string; only plain scalars are typed. */
#include "dagfile_int.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct ynode *
ymap_get(const struct ynode *map, const char *key)
{
    if (map == NULL || map->kind != YN_MAP)
        return NULL;
    for (size_t i = map->n; i-- > 0;) {
        const struct ynode *k = ymap_key(map, i);
        if (k->kind == YN_SCALAR && strcmp(k->str, key) == 0)
            return ymap_val(map, i);
    }
    return NULL;
}

static bool
plain(const struct ynode *n)
{
    return n != NULL && n->kind == YN_SCALAR && !n->quoted;
}

bool
ynode_is_null(const struct ynode *n)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};

    if (!plain(n))
        return false;
    for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
        if (strcmp(n->str, nulls[i]) == 0)
            return true;
    return false;
}

int
ynode_bool(const struct ynode *n, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};

    if (!plain(n))
        return -1;
    for (size_t i = 0; i < 3; i++) {
        if (strcasecmp(n->str, yes[i]) == 0)
            return *out = true, 0;
        if (strcasecmp(n->str, no[i]) == 0)
            return *out = false, 0;
    }
    return -1;
}

int
ynode_long(const struct ynode *n, long *out)
{
    const char *s;
    char *end;
    long v;

    if (!plain(n))
        return -1;
    s = n->str;
    if (*s == '+' || *s == '-')
        s++;
    if (!isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    v = strtol(n->str, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

int
ynode_double(const struct ynode *n, double *out)
{
    const char *s;
    char *end;
    double v;

    if (!plain(n))
        return -1;
    for (s = n->str; *s; s++) /* digits only: strtod would also take "inf", "nan", hex */
        if (!isdigit((unsigned char)*s) && strchr("+-.eE", *s) == NULL)
            return -1;
    if (strpbrk(n->str, "0123456789") == NULL)
        return -1;
    errno = 0;
    v = strtod(n->str, &end);
    if (errno != 0 || *end != '\0' || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

const char *
ynode_what(const struct ynode *n)
{
    bool b;
    double d;

    if (n == NULL)
        return "nothing";
    if (n->kind == YN_MAP)
        return "a mapping";
    if (n->kind == YN_SEQ)
        return "a list";
    if (ynode_is_null(n))
        return "null";
    if (ynode_bool(n, &b) == 0)
        return "a boolean";
    if (ynode_double(n, &d) == 0)
        return "a number";
    return "a string";
}

static struct ynode *
merge(const struct ynode *dst, const struct ynode *defaults)
{
    struct ynode *out = ynode_copy(dst);
    size_t cap;

    if (out == NULL || dst->kind != YN_MAP || defaults->kind != YN_MAP)
        return out;
    cap = dst->n + defaults->n;
    struct ynode **items = realloc(out->items, (2 * cap + 1) * sizeof(*items));
    if (items == NULL)
        goto fail;
    out->items = items;
    for (size_t i = 0; i < defaults->n; i++) {
        const struct ynode *k = ymap_key(defaults, i), *v = ymap_val(defaults, i);
        struct ynode *mine = k->kind == YN_SCALAR ? ymap_get(out, k->str) : NULL;
        if (mine != NULL && mine->kind == YN_MAP && v->kind == YN_MAP) {
            struct ynode *m = merge(mine, v);
            if (m == NULL)
                goto fail;
            for (size_t j = 0; j < out->n; j++) /* replace the last (effective) one */
                if (ymap_val(out, j) == mine)
                    out->items[2 * j + 1] = m;
            ynode_free(mine);
            continue;
        }
        if (mine != NULL)
            continue;
        if ((out->items[2 * out->n] = ynode_copy(k)) == NULL)
            goto fail;
        if ((out->items[2 * out->n + 1] = ynode_copy(v)) == NULL) {
            ynode_free(out->items[2 * out->n]);
            goto fail;
        }
        out->n++;
    }
    return out;
fail:
    ynode_free(out);
    return NULL;
}

struct ynode *
ynode_merge(const struct ynode *dst, const struct ynode *defaults)
{
    return merge(dst, defaults);
}

static json_t *
scalar_json(const struct ynode *n)
{
    bool b;
    long l;
    double d;

    if (ynode_is_null(n))
        return json_null();
    if (ynode_bool(n, &b) == 0)
        return json_boolean(b);
    if (ynode_long(n, &l) == 0)
        return json_integer(l);
    if (ynode_double(n, &d) == 0)
        return json_real(d);
    /* libyaml hands out UTF-8, but escapes can still make lone surrogates: keep the bytes. */
    return json_string_nocheck(n->str);
}

json_t *
ynode_json(const struct ynode *n)
{
    json_t *j;

    if (n->kind == YN_SCALAR)
        return scalar_json(n);
    j = n->kind == YN_SEQ ? json_array() : json_object();
    for (size_t i = 0; j != NULL && i < n->n; i++) {
        json_t *v = ynode_json(n->kind == YN_SEQ ? n->items[i] : ymap_val(n, i));
        const struct ynode *k = n->kind == YN_MAP ? ymap_key(n, i) : NULL;
        int rc;
        if (n->kind == YN_SEQ)
            rc = json_array_append_new(j, v);
        else /* a non-scalar key has no JSON form: it becomes its YAML kind's name */
            rc = json_object_set_new_nocheck(j, k->kind == YN_SCALAR ? k->str : ynode_what(k), v);
        if (v == NULL || rc < 0) {
            json_decref(j);
            j = NULL;
        }
    }
    return j;
}

char *
ynode_to_json(const struct ynode *n)
{
    json_t *j = ynode_json(n);
    char *s = NULL;

    if (j != NULL)
        s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(j);
    return s;
}

/* Python's posixpath.expandvars: "$" then \w+ (ASCII) or "{" anything but "}" "}". */
static size_t
var_name(const char *p, const char **name, size_t *len)
{
    size_t i = 0;

    if (p[0] != '$')
        return 0;
    if (p[1] == '{') {
        const char *close = strchr(p + 2, '}');
        if (close == NULL)
            return 0;
        *name = p + 2;
        *len = (size_t)(close - (p + 2));
        return *len + 3;
    }
    while (isalnum((unsigned char)p[1 + i]) || p[1 + i] == '_')
        i++;
    *name = p + 1;
    *len = i;
    return i ? i + 1 : 0;
}

char *
dagfile_expandvars(const char *s)
{
    size_t cap = strlen(s) + 1, used = 0;
    char *out = malloc(cap);

    while (out != NULL && *s) {
        const char *name, *val = NULL;
        size_t len = 0, span = var_name(s, &name, &len);
        if (span > 0) {
            char key[256];
            if (len < sizeof(key)) {
                memcpy(key, name, len);
                key[len] = '\0';
                val = getenv(key);
            }
        }
        const char *piece = val ? val : s;
        size_t n = val ? strlen(val) : span ? span : 1;
        if (used + n + 1 > cap) {
            char *bigger = realloc(out, cap = 2 * (used + n + 1));
            if (bigger == NULL) {
                free(out);
                return NULL;
            }
            out = bigger;
        }
        memcpy(out + used, piece, n);
        used += n;
        s += span ? span : 1;
    }
    if (out != NULL)
        out[used] = '\0';
    return out;
}

char *
dagfile_strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

bool
dagfile_valid_id(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 250)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && strchr("_.-", *s) == NULL)
            return false;
    return true;
}
