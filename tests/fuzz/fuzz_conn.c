/* fuzz_conn: libFuzzer target for the connection parsers (common/conn.c) and Fernet tokens.
 *
 * The input, NUL-terminated, is parsed as Airflow's URI form and as its JSON form, and
 * decrypted as a Fernet token. A URI that parses must survive conn_to_uri and parse back to
 * the same fields (Airflow's get_uri round trip), and its conninfo and description must be
 * made without error for a postgres connection. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "conn.h"
#include "fernet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
same(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

/* Hosts compare without case: Airflow lower-cases a host unless it holds a '/', so
 * "k8s://Host" (kept: "k8s%3A%2F%2FHost") comes back from get_uri's "k8s://Host" as
 * "k8s://host", in Airflow too. */
static int
same_host(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcasecmp(a, b) == 0);
}

static int
same_json(const char *a, const char *b)
{
    json_t *x = a ? json_loads(a, 0, NULL) : NULL, *y = b ? json_loads(b, 0, NULL) : NULL;
    int eq = (x == NULL && y == NULL) || (x && y && json_equal(x, y));

    json_decref(x);
    json_decref(y);
    return eq;
}

static void
round_trip(const struct conn *c)
{
    struct conn back;
    struct err e = {0};
    char *uri = conn_to_uri(c), *ci = NULL, desc[256];

    if (uri == NULL)
        abort();
    /* A host holding '/' (a socket folder, "proto://host") is where Airflow's own get_uri is
     * not reversible ("a//b://h" splits at its "://"): only crash-freedom is asked there. */
    bool exact = c->host == NULL || strchr(c->host, '/') == NULL;
    if (conn_from_uri("fuzz", uri, &back, &e) < 0 && exact)
        abort(); /* what get_uri writes must parse */
    if (exact &&
        (!same(c->conn_type, back.conn_type) || !same_host(c->host, back.host) ||
         !same(c->login, back.login) || !same(c->password, back.password) ||
         !same(c->schema, back.schema) || c->port != back.port || !same_json(c->extra, back.extra)))
        abort();
    if (strcmp(c->conn_type, "postgres") == 0 && conn_pg_conninfo(c, NULL, &ci, &e) < 0 &&
        e.code != ERR_PARSE)
        abort();
    conn_describe(c, desc, sizeof(desc));
    free(ci);
    free(uri);
    conn_clear(&back);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fernet f;
    struct conn c;
    struct err e = {0};
    char *text = malloc(size + 1);
    char *plain;

    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (conn_from_uri("fuzz", text, &c, &e) == 0) {
        round_trip(&c);
        conn_clear(&c);
    }
    if (conn_from_json("fuzz", text, &c, &e) == 0)
        conn_clear(&c);
    if (f.nkeys == 0 && fernet_parse(&f, "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=", &e) < 0)
        abort();
    if ((plain = fernet_decrypt(&f, text, NULL, NULL, &e)) != NULL)
        free(plain);
    free(text);
    return 0;
}
