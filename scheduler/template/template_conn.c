/* template_conn: Airflow's `conn` template accessor, {{ conn.<conn_id>.<field> }}.
 *
 * conn.<id> (or conn['<id>']) looks the connection up when a try renders, AIRFLOW_CONN_<ID>
 * first, then the `connection` table: through the context's conn_get (the caller's session),
 * else conn_lookup_default (a short session to the configured metadata database), and is an object
 * of which only the fields can be printed: host, login, port, schema, conn_type, conn_id,
 * description, extra, extra_dejson (then .<key>) and password. The password is there only because
 * Airflow offers it; it appears in whatever renders it. Checking a DAG validates the field names;
 * the connection itself is only looked up at run time (it may be added after the DAG). */
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "template_int.h"

static const char *const fields[] = {"host",         "login",    "port",        "schema",
                                     "conn_type",    "conn_id",  "description", "extra",
                                     "extra_dejson", "password", NULL};

static json_t *
str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* The connection as the JSON object the accessor reads fields from. */
static json_t *
conn_object(const struct conn *c)
{
    json_t *o = json_object(), *x = c->extra ? json_loads(c->extra, 0, NULL) : NULL;

    if (o == NULL)
        return NULL;
    json_object_set_new(o, "conn_id", str_or_null(c->conn_id));
    json_object_set_new(o, "conn_type", str_or_null(c->conn_type));
    json_object_set_new(o, "description", str_or_null(c->description));
    json_object_set_new(o, "host", str_or_null(c->host));
    json_object_set_new(o, "login", str_or_null(c->login));
    json_object_set_new(o, "password", str_or_null(c->password));
    json_object_set_new(o, "port", c->port ? json_integer(c->port) : json_null());
    json_object_set_new(o, "schema", str_or_null(c->schema));
    json_object_set_new(o, "extra", str_or_null(c->extra));
    json_object_set_new(o, "extra_dejson", json_is_object(x) ? json_incref(x) : json_object());
    json_decref(x);
    return o;
}

/* conn.<id>: the connection (rendering) or a placeholder for its fields (checking). */
static int
conn_item(struct tmpl_state *s, struct tmpl_val *v, const char *id, size_t off)
{
    struct conn c = {0};
    struct err ce = {0};
    int rc;

    memset(v, 0, sizeof(*v));
    v->k = V_OBJ;
    v->id = O_CONN_ITEM;
    if (s->ctx == NULL)
        return 0;
    rc = s->ctx->conn_get ? s->ctx->conn_get(s->ctx->arg, id, &c, &ce)
                          : conn_lookup_default(id, &c, &ce);
    if (rc < 0)
        return tmpl_fail(s, off, "conn.%s: %s", id, ce.msg);
    v->j = conn_object(&c);
    conn_clear(&c);
    return v->j ? 0 : tmpl_fail(s, off, "out of memory");
}

int
tmpl_conn_attr(struct tmpl_state *s, struct tmpl_val *v, const char *name, size_t off)
{
    size_t i = 0;

    if (v->id == O_CONN)
        return conn_item(s, v, name, off);
    while (fields[i] && strcmp(fields[i], name) != 0)
        i++;
    if (fields[i] == NULL)
        return tmpl_fail(s, off,
                         "unknown attribute '%s' of a connection (conn.<id>.host, "
                         ".login, .port, .schema, .extra_dejson.<key> ...)",
                         name);
    if (v->j == NULL) { /* checking */
        tmpl_val_clear(v);
        return 0;
    }
    json_t *field = json_incref(json_object_get(v->j, name));
    tmpl_val_clear(v);
    return tmpl_val_json(s, v, field, off);
}
