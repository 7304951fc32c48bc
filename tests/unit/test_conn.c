/* test_conn: common/conn (Airflow's Connection model) and common/fernet.
 *
 * The URI cases are Airflow's own (its tests of Connection(uri=...): expected conn_type,
 * host, login, password, port, schema, extra), each also sent through conn_to_uri and back
 * (Airflow's get_uri round trip). The JSON form, the environment lookup, the connection
 * table lookup against the test run's real PostgreSQL (plain and Fernet-encrypted rows,
 * missing table, missing row), libpq conninfo quoting, conn_describe without the password,
 * the secret-key rule, and Fernet: the spec's test vector, round trips, MultiFernet
 * rotation, tampered tokens. Python's `cryptography` is the oracle in
 * tests/integration/test_connections.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conn.h"
#include "fernet.h"
#include "pq.h"
#include "store/store.h"

#define DB "gust_unit_conn"
#include "pgtest.h"

static int
need_db(void **state)
{
    (void)state;
    return 0;
}

/* ---- URI form: Airflow's cases --------------------------------------------------------- */

struct uri_case {
    const char *uri, *conn_type, *host, *login, *password, *schema;
    int port;
    const char *extra; /* expected extra text, NULL for none */
};

static const struct uri_case uri_cases[] = {
    {"scheme://user:password@host%2Flocation:1234/schema", "scheme", "host/location", "user",
     "password", "schema", 1234, NULL},
    {"scheme://user:password@host%2Flocation:1234/schema?extra1=a%20value&extra2=%2Fpath%2F",
     "scheme", "host/location", "user", "password", "schema", 1234,
     "{\"extra1\": \"a value\", \"extra2\": \"/path/\"}"},
    {"scheme://user:password@host%2Flocation:1234/schema?"
     "__extra__=%7B%22my_val%22%3A+%5B%22list%22%2C+%22of%22%2C+%22values%22%5D%2C+%22extra%22%3A"
     "+%7B%22nested%22%3A+%7B%22json%22%3A+%22val%22%7D%7D%7D",
     "scheme", "host/location", "user", "password", "schema", 1234,
     "{\"my_val\": [\"list\", \"of\", \"values\"], \"extra\": {\"nested\": {\"json\": \"val\"}}}"},
    {"scheme://user:password@host%2Flocation:1234/schema?extra1=a%20value&extra2=", "scheme",
     "host/location", "user", "password", "schema", 1234,
     "{\"extra1\": \"a value\", \"extra2\": \"\"}"},
    {"scheme://user:password@host%2Flocation%3Ax%3Ay:1234/"
     "schema?extra1=a%20value&extra2=%2Fpath%2F",
     "scheme", "host/location:x:y", "user", "password", "schema", 1234,
     "{\"extra1\": \"a value\", \"extra2\": \"/path/\"}"},
    {"scheme://user:password%20with%20space@host%2Flocation%3Ax%3Ay:1234/schema", "scheme",
     "host/location:x:y", "user", "password with space", "schema", 1234, NULL},
    {"scheme://domain%2Fuser:password@host%2Flocation%3Ax%3Ay:1234/schema", "scheme",
     "host/location:x:y", "domain/user", "password", "schema", 1234, NULL},
    {"scheme://user:password%20with%20space@host:1234/schema%2Ftest", "scheme", "host", "user",
     "password with space", "schema/test", 1234, NULL},
    {"scheme://user:password%20with%20space@host:1234", "scheme", "host", "user",
     "password with space", NULL, 1234, NULL},
    {"google-cloud-platform://?key_path=%2Fkeys%2Fkey.json&scope="
     "https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fcloud-platform&project=airflow",
     "google_cloud_platform", NULL, NULL, NULL, NULL, 0,
     "{\"key_path\": \"/keys/key.json\", \"scope\": "
     "\"https://www.googleapis.com/auth/cloud-platform\", \"project\": \"airflow\"}"},
    {"scheme://host:1234", "scheme", "host", NULL, NULL, NULL, 1234, NULL},
    {"scheme://%2FTmP%2F:1234", "scheme", "/TmP/", NULL, NULL, NULL, 1234, NULL},
    {"scheme:///airflow", "scheme", NULL, NULL, NULL, "airflow", 0, NULL},
    {"scheme://@:1234", "scheme", NULL, NULL, NULL, NULL, 1234, NULL},
    {"scheme://:password%2F%21%40%23%24%25%5E%26%2A%28%29%7B%7D@", "scheme", NULL, NULL,
     "password/!@#$%^&*(){}", NULL, 0, NULL},
    {"scheme://login%2F%21%40%23%24%25%5E%26%2A%28%29%7B%7D@", "scheme", NULL, "login/!@#$%^&*(){}",
     NULL, NULL, 0, NULL},
    {"http://:password@host:80/database", "http", "host", NULL, "password", "database", 80, NULL},
    {"http://user:@host:80/database", "http", "host", "user", NULL, "database", 80, NULL},
    {"http://user:password@/database", "http", NULL, "user", "password", "database", 0, NULL},
    {"http://user:password@host:80/", "http", "host", "user", "password", NULL, 80, NULL},
    {"postgresql://user:password@%2Ftmp%2Fz6rqdzqh%2Fexample%3Awest1%3Atestdb/testdb", "postgres",
     "/tmp/z6rqdzqh/example:west1:testdb", "user", "password", "testdb", 0, NULL},
    {"postgresql://%2Ftmp%2Fz6rqdzqh%2Fexample%3Aeurope-west1%3Atestdb", "postgres",
     "/tmp/z6rqdzqh/example:europe-west1:testdb", NULL, NULL, NULL, 0, NULL},
    {"spark://k8s%3a%2F%2F100.68.0.1:443?deploy-mode=cluster", "spark", "k8s://100.68.0.1", NULL,
     NULL, NULL, 443, "{\"deploy-mode\": \"cluster\"}"},
    {"spark://user:password@k8s%3a%2F%2F100.68.0.1:443?deploy-mode=cluster", "spark",
     "k8s://100.68.0.1", "user", "password", NULL, 443, "{\"deploy-mode\": \"cluster\"}"},
    {"spark://k8s%3a%2F%2Fno.port.com?deploy-mode=cluster", "spark", "k8s://no.port.com", NULL,
     NULL, NULL, 0, "{\"deploy-mode\": \"cluster\"}"},
    /* the environment example of Airflow's docs and tests */
    {"postgresql://username:password@ec2.compute.com:5432/the_database", "postgres",
     "ec2.compute.com", "username", "password", "the_database", 5432, NULL},
    /* urlsplit lower-cases the host (not a socket folder's) */
    {"postgres://u@DB.Example.COM/x", "postgres", "db.example.com", "u", NULL, "x", 0, NULL},
    /* a host with its own protocol: "type://proto://host" */
    {"http://https://example.com:8443/api", "http", "https://example.com", NULL, NULL, "api", 8443,
     NULL},
    /* IPv6 literal */
    {"postgres://u:p@[::1]:6543/db", "postgres", "::1", "u", "p", "db", 6543, NULL},
    /* '+' in a query value is a space, as parse_qsl; "__extra__" wins over other keys */
    {"postgres://h/db?a=1+2&__extra__=%7B%22k%22%3A+%22v%22%7D", "postgres", "h", NULL, NULL, "db",
     0, "{\"k\": \"v\"}"},
};

static void
str_is(const char *what, const char *uri, const char *got, const char *want)
{
    if ((got == NULL) != (want == NULL) || (got && strcmp(got, want) != 0))
        fail_msg("%s: %s: got %s%s%s, want %s%s%s", uri, what, got ? "\"" : "", got ? got : "NULL",
                 got ? "\"" : "", want ? "\"" : "", want ? want : "NULL", want ? "\"" : "");
}

static void
check_case(const struct uri_case *k, const struct conn *c, const char *label)
{
    str_is("conn_type", label, c->conn_type, k->conn_type);
    str_is("host", label, c->host, k->host);
    str_is("login", label, c->login, k->login);
    str_is("password", label, c->password, k->password);
    str_is("schema", label, c->schema, k->schema);
    str_is("extra", label, c->extra, k->extra);
    if (c->port != k->port)
        fail_msg("%s: port %d, want %d", label, c->port, k->port);
}

static void
test_uri_airflow_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(uri_cases) / sizeof(uri_cases[0]); i++) {
        const struct uri_case *k = &uri_cases[i];
        struct conn c, back;
        struct err e = {0};
        if (conn_from_uri("test_conn", k->uri, &c, &e) != 0)
            fail_msg("%s: %s", k->uri, e.msg);
        assert_string_equal(c.conn_id, "test_conn");
        check_case(k, &c, k->uri);
        /* get_uri, then parse again: the same connection (Airflow's round-trip test) */
        char *again = conn_to_uri(&c);
        assert_non_null(again);
        if (conn_from_uri("test_conn", again, &back, &e) != 0)
            fail_msg("%s -> %s: %s", k->uri, again, e.msg);
        check_case(k, &back, again);
        free(again);
        conn_clear(&c);
        conn_clear(&back);
    }
}

static void
test_to_uri(void **state)
{
    (void)state;
    struct conn c = {0};
    char *u;

    c.conn_type = "postgres", c.host = "db.example.com", c.login = "us er@x";
    c.password = "p@ss/w:rd#?", c.port = 5432, c.schema = "my db";
    u = conn_to_uri(&c);
    assert_string_equal(u, "postgres://us%20er%40x:p%40ss%2Fw%3Ard%23%3F@db.example.com:5432/"
                           "my%20db");
    free(u);
    c.extra = "{\"sslmode\": \"require\", \"application_name\": \"a b\"}";
    u = conn_to_uri(&c);
    assert_string_equal(u, "postgres://us%20er%40x:p%40ss%2Fw%3Ard%23%3F@db.example.com:5432/"
                           "my%20db?sslmode=require&application_name=a+b");
    free(u);
    /* a value that is not a string: the whole extra as __extra__ */
    c.extra = "{\"connect_timeout\": 5}", c.schema = NULL, c.login = c.password = NULL;
    u = conn_to_uri(&c);
    assert_string_equal(u, "postgres://db.example.com:5432/?__extra__=%7B%22connect_timeout%22%3A+"
                           "5%7D");
    free(u);
    /* port only: "@:port" as Airflow writes it */
    memset(&c, 0, sizeof(c));
    c.conn_type = "google_cloud_platform", c.port = 1234;
    u = conn_to_uri(&c);
    assert_string_equal(u, "google-cloud-platform://@:1234");
    free(u);
}

static void
bad_uri(const char *uri, const char *want)
{
    struct conn c;
    struct err e = {0};

    assert_int_equal(conn_from_uri("bad_one", uri, &c, &e), -1);
    assert_int_equal(e.code, ERR_PARSE);
    assert_false(e.temporary);
    if (strstr(e.msg, "bad_one") == NULL || strstr(e.msg, want) == NULL)
        fail_msg("%s: message \"%s\" lacks the conn_id or \"%s\"", uri, e.msg, want);
    if (strstr(e.msg, "hunter2"))
        fail_msg("%s: message \"%s\" shows the password", uri, e.msg);
    assert_null(c.conn_type);
}

static void
test_uri_errors(void **state)
{
    (void)state;
    bad_uri("postgres://u:hunter2@h:notaport/db", "port");
    bad_uri("postgres://u:hunter2@h:70000/db", "port");
    bad_uri("just text hunter2", "not a connection URI");
    bad_uri("a://b://c://hunter2", "more than two");
    bad_uri("postgres://u:hunter2%00@h/db", "NUL byte");
    bad_uri("x://u:hunter2@proto://host", "invalid");
    bad_uri("postgres://u:hunter2@h/db?__extra__=%5B1%5D", "not a JSON object");
    bad_uri("postgres://u:hunter2@h/db?__extra__=nope", "not JSON");
    bad_uri("postgres://u:hunter2@[::1/db", "IPv6");
}

/* ---- JSON form ----------------------------------------------------------------------------- */

static void
test_json_form(void **state)
{
    (void)state;
    struct conn c;
    struct err e = {0};

    assert_int_equal(conn_from_json("j",
                                    "{\"conn_type\": \"postgresql\", \"host\": \"h\", "
                                    "\"login\": \"u\", \"password\": "
                                    "\"pass :/!@#$%^&*(){}\\\"\", \"port\": \"5433\", "
                                    "\"schema\": \"db\", \"extra\": {\"sslmode\": \"disable\"}, "
                                    "\"description\": \"d\"}",
                                    &c, &e),
                     0);
    assert_string_equal(c.conn_type, "postgres");
    assert_string_equal(c.password, "pass :/!@#$%^&*(){}\"");
    assert_int_equal(c.port, 5433);
    assert_string_equal(c.extra, "{\"sslmode\": \"disable\"}");
    assert_string_equal(c.description, "d");
    conn_clear(&c);
    /* extra as a string holding JSON; conn_type with '-'; port as a number; empty password */
    assert_int_equal(conn_from_json("j",
                                    "{\"conn_type\": \"abc-abc\", \"port\": 1, \"password\": "
                                    "\"\", \"extra\": \"{\\\"yo\\\": \\\"hi\\\"}\"}",
                                    &c, &e),
                     0);
    assert_string_equal(c.conn_type, "abc_abc");
    assert_int_equal(c.port, 1);
    assert_null(c.password);
    assert_string_equal(c.extra, "{\"yo\": \"hi\"}");
    conn_clear(&c);
    assert_int_equal(conn_from_json("j", "{\"extra\": null, \"port\": null}", &c, &e), 0);
    assert_null(c.extra);
    assert_int_equal(c.port, 0);
    conn_clear(&c);
    /* errors name the connection */
    assert_int_equal(conn_from_json("jbad", "{\"port\": \"x\"}", &c, &e), -1);
    assert_non_null(strstr(e.msg, "jbad"));
    assert_non_null(strstr(e.msg, "port"));
    assert_int_equal(conn_from_json("jbad", "{\"hots\": \"x\"}", &c, &e), -1);
    assert_non_null(strstr(e.msg, "unknown key \"hots\""));
    assert_int_equal(conn_from_json("jbad", "{\"extra\": \"[1]\"}", &c, &e), -1);
    assert_non_null(strstr(e.msg, "not a JSON object"));
    assert_int_equal(conn_from_json("jbad", "{\"conn_type\": ", &c, &e), -1);
    assert_non_null(strstr(e.msg, "not JSON"));
    assert_int_equal(conn_from_json("jbad", "[]", &c, &e), -1);
    /* to_json masks the password unless asked */
    c = (struct conn){.conn_type = "postgres", .host = "h", .password = "hunter2", .port = 5};
    char *j = conn_to_json(&c, false);
    assert_null(strstr(j, "hunter2"));
    assert_non_null(strstr(j, "\"password\": \"***\""));
    free(j);
    j = conn_to_json(&c, true);
    assert_non_null(strstr(j, "\"password\": \"hunter2\""));
    assert_non_null(strstr(j, "\"port\": 5"));
    free(j);
}

/* ---- environment -------------------------------------------------------------------------- */

static void
test_env_lookup(void **state)
{
    (void)state;
    struct conn c;
    struct err e = {0};

    setenv("AIRFLOW_CONN_TEST_URI",
           "postgresql://username:password@ec2.compute.com:5432/the_database", 1);
    assert_int_equal(conn_lookup("test_uri", NULL, &c, &e), 0);
    assert_string_equal(c.host, "ec2.compute.com");
    assert_string_equal(c.schema, "the_database");
    assert_string_equal(c.password, "password");
    assert_int_equal(c.port, 5432);
    conn_clear(&c);
    setenv("AIRFLOW_CONN_MY_JSON", "  {\"conn_type\": \"postgres\", \"host\": \"jh\"}", 1);
    assert_int_equal(conn_lookup("my_json", NULL, &c, &e), 0);
    assert_string_equal(c.host, "jh");
    assert_string_equal(c.conn_id, "my_json");
    conn_clear(&c);
    /* malformed: permanent, names the connection and the variable */
    setenv("AIRFLOW_CONN_BROKEN", "postgres://u:hunter2@h:port/db", 1);
    assert_int_equal(conn_lookup("broken", NULL, &c, &e), -1);
    assert_int_equal(e.code, ERR_PARSE);
    assert_false(e.temporary);
    assert_non_null(strstr(e.msg, "AIRFLOW_CONN_BROKEN"));
    assert_non_null(strstr(e.msg, "'broken'"));
    assert_null(strstr(e.msg, "hunter2"));
    /* missing without a database */
    assert_int_equal(conn_lookup("nowhere", NULL, &c, &e), -1);
    assert_int_equal(e.code, ERR_NOTFOUND);
    assert_false(e.temporary);
    assert_non_null(strstr(e.msg, "'nowhere' not found"));
    assert_non_null(strstr(e.msg, "AIRFLOW_CONN_NOWHERE"));
    unsetenv("AIRFLOW_CONN_TEST_URI");
    unsetenv("AIRFLOW_CONN_MY_JSON");
    unsetenv("AIRFLOW_CONN_BROKEN");
}

/* ---- conninfo, describe, secrets ------------------------------------------------------- */

static void
test_conninfo(void **state)
{
    (void)state;
    struct conn c;
    struct err e = {0};
    char *ci, buf[256];

    assert_int_equal(conn_from_uri("pg",
                                   "postgresql://o%27brien:it%27s%5Cx@db:5433/sales?"
                                   "sslmode=require&connect_timeout=7&cursor=dictcursor&"
                                   "options=-c+search_path%3Dx",
                                   &c, &e),
                     0);
    assert_int_equal(conn_pg_conninfo(&c, NULL, &ci, &e), 0);
    assert_string_equal(ci, "host='db' port='5433' user='o\\'brien' password='it\\'s\\\\x' "
                            "dbname='sales' sslmode='require' connect_timeout='7' "
                            "options='-c search_path=x'");
    free(ci);
    assert_int_equal(conn_pg_conninfo(&c, "other", &ci, &e), 0);
    assert_non_null(strstr(ci, "dbname='other'"));
    free(ci);
    conn_describe(&c, buf, sizeof(buf));
    assert_string_equal(buf, "pg (postgres://o'brien@db:5433/sales)");
    conn_clear(&c);
    assert_int_equal(conn_from_uri("web", "http://u:hunter2@h", &c, &e), 0);
    assert_int_equal(conn_pg_conninfo(&c, NULL, &ci, &e), -1);
    assert_non_null(strstr(e.msg, "'web'"));
    assert_non_null(strstr(e.msg, "'http'"));
    conn_describe(&c, buf, sizeof(buf));
    assert_null(strstr(buf, "hunter2"));
    conn_clear(&c);
}

static void
test_extra_and_secret_keys(void **state)
{
    (void)state;
    struct conn c = {.extra = "{\"a\": \"x\", \"n\": 5, \"o\": {\"k\": [1]}}"};
    char *v;

    assert_string_equal(v = conn_extra_get(&c, "a"), "x");
    free(v);
    assert_string_equal(v = conn_extra_get(&c, "n"), "5");
    free(v);
    assert_string_equal(v = conn_extra_get(&c, "o"), "{\"k\":[1]}");
    free(v);
    assert_null(conn_extra_get(&c, "missing"));
    assert_true(conn_key_is_secret("db_password"));
    assert_true(conn_key_is_secret("AWS_SECRET"));
    assert_true(conn_key_is_secret("My-ApiKey"));
    assert_true(conn_key_is_secret("api_key"));
    assert_true(conn_key_is_secret("github_access_token"));
    assert_true(conn_key_is_secret("Authorization"));
    assert_true(conn_key_is_secret("ssh_private_key"));
    assert_true(conn_key_is_secret("passwd"));
    assert_false(conn_key_is_secret("host"));
    assert_false(conn_key_is_secret("token_count"));
    assert_false(conn_key_is_secret(""));
}

/* ---- Fernet ------------------------------------------------------------------------------ */

/* The Fernet specification's test vector (generate.json / verify.json). */
#define SPEC_KEY "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4="
#define SPEC_TOKEN                                                                                 \
    "gAAAAAAdwJ6wAAECAwQFBgcICQoLDA0ODy021cpGVWKZ_eEwCGM4BLLF_5CV9dOPmrhuVUPgJobwOz7JcbmrR64jVmpU" \
    "4IwqDA=="

static void
test_fernet_spec_vector(void **state)
{
    (void)state;
    struct fernet f;
    struct err e = {0};
    size_t len = 0;
    int64_t ts = 0;
    char *p;

    assert_int_equal(fernet_parse(&f, SPEC_KEY, &e), 0);
    assert_int_equal(f.nkeys, 1);
    assert_non_null(p = fernet_decrypt(&f, SPEC_TOKEN, &len, &ts, &e));
    assert_string_equal(p, "hello");
    assert_int_equal(len, 5);
    assert_true(ts == 499162800); /* 1985-10-26T01:20:00-07:00 */
    free(p);
    /* one flipped character anywhere: invalid */
    char bad[] = SPEC_TOKEN;
    bad[40] = bad[40] == 'A' ? 'B' : 'A';
    assert_null(fernet_decrypt(&f, bad, &len, NULL, &e));
    assert_int_equal(e.code, ERR_PARSE);
    assert_null(fernet_decrypt(&f, "gAAAA", &len, NULL, &e));
    assert_null(fernet_decrypt(&f, "not base64 !!", &len, NULL, &e));
}

static void
test_fernet_multi(void **state)
{
    (void)state;
    char k1[45], k2[45], list[100];
    struct fernet f1, f21, f2;
    struct err e = {0};
    char *tok, *p, *rot;
    size_t len;
    int64_t ts;

    assert_int_equal(fernet_generate_key(k1, &e), 0);
    assert_int_equal(fernet_generate_key(k2, &e), 0);
    assert_int_equal(strlen(k1), 44);
    assert_int_equal(fernet_parse(&f1, k1, &e), 0);
    snprintf(list, sizeof(list), " %s , %s ,", k2, k1);
    assert_int_equal(fernet_parse(&f21, list, &e), 0);
    assert_int_equal(f21.nkeys, 2);
    assert_int_equal(fernet_parse(&f2, k2, &e), 0);
    /* an empty value and one block exactly */
    assert_non_null(tok = fernet_encrypt(&f1, "", 0, 1700000000, &e));
    assert_non_null(p = fernet_decrypt(&f1, tok, &len, &ts, &e));
    assert_int_equal(len, 0);
    assert_true(ts == 1700000000);
    free(p);
    free(tok);
    assert_non_null(tok = fernet_encrypt(&f1, "0123456789abcdef", 16, 1700000000, &e));
    /* the old key still decrypts through the list; the new key alone does not */
    assert_non_null(p = fernet_decrypt(&f21, tok, &len, NULL, &e));
    assert_string_equal(p, "0123456789abcdef");
    free(p);
    assert_null(fernet_decrypt(&f2, tok, &len, NULL, &e));
    /* rotate: now the new key alone decrypts, the timestamp is kept */
    assert_non_null(rot = fernet_rotate(&f21, tok, &e));
    assert_non_null(p = fernet_decrypt(&f2, rot, &len, &ts, &e));
    assert_string_equal(p, "0123456789abcdef");
    assert_true(ts == 1700000000);
    free(p);
    assert_null(fernet_decrypt(&f1, rot, &len, NULL, &e));
    free(rot);
    free(tok);
    /* bad keys: named by position, never quoted */
    snprintf(list, sizeof(list), "%s,notakey", k1);
    assert_int_equal(fernet_parse(&f1, list, &e), -1);
    assert_non_null(strstr(e.msg, "key 2"));
    assert_null(strstr(e.msg, "notakey"));
    setenv("AIRFLOW__CORE__FERNET_KEY", "", 1);
    setenv("GUST_FERNET_KEY", k2, 1);
    const char *src;
    assert_int_equal(fernet_from_env(&f1, &src, &e), 0);
    assert_string_equal(src, "GUST_FERNET_KEY");
    assert_int_equal(f1.nkeys, 1);
    setenv("AIRFLOW__CORE__FERNET_KEY", "short", 1);
    assert_int_equal(fernet_from_env(&f1, &src, &e), -1);
    assert_non_null(strstr(e.msg, "AIRFLOW__CORE__FERNET_KEY"));
    unsetenv("AIRFLOW__CORE__FERNET_KEY");
    unsetenv("GUST_FERNET_KEY");
    assert_int_equal(fernet_from_env(&f1, &src, &e), 0);
    assert_int_equal(f1.nkeys, 0);
    assert_null(src);
}

/* ---- the connection table ------------------------------------------------------------------ */

static PGconn *
fresh_db(void)
{
    struct err e = {0};
    char where[200];
    PGconn *db;

    assert_int_equal(pgtest_recreate_db(), 0);
    if ((db = pq_connect("dbname=" DB, "test_conn", true, where, sizeof(where), &e)) == NULL)
        fail_msg("connect: %s", e.msg);
    return db;
}

static void
migrate(void)
{
    struct err e = {0};
    struct store *s = store_open("dbname=" DB, &e);
    int applied = 0;

    if (s == NULL || store_migrate(s, &applied, &e) != 0)
        fail_msg("migrate: %s", e.msg);
    store_free(s);
}

static void
test_db_lookup(void **state)
{
    (void)state;
    PGconn *db = fresh_db();
    struct conn c;
    struct err e = {0};
    char key[45], sql[1024];

    /* no table yet: not found, saying to migrate */
    assert_int_equal(conn_lookup("pg_one", db, &c, &e), -1);
    assert_int_equal(e.code, ERR_NOTFOUND);
    assert_non_null(strstr(e.msg, "gust db migrate"));
    migrate();
    assert_string_equal(query("select string_agg(column_name, ',' order by ordinal_position) from "
                              "information_schema.columns where table_name = 'connection'"),
                        "id,conn_id,conn_type,description,host,schema,login,password,port,"
                        "is_encrypted,is_extra_encrypted,extra");
    query("insert into connection (conn_id, conn_type, host, schema, login, password, port, extra) "
          "values ('pg_one', 'postgres', 'dbhost', 'sales', 'ann', 'plain pw', 5433, "
          "'{\"sslmode\": \"disable\"}')");
    assert_int_equal(conn_lookup("pg_one", db, &c, &e), 0);
    assert_string_equal(c.host, "dbhost");
    assert_string_equal(c.password, "plain pw");
    assert_int_equal(c.port, 5433);
    assert_string_equal(c.extra, "{\"sslmode\": \"disable\"}");
    conn_clear(&c);
    /* the environment comes first */
    setenv("AIRFLOW_CONN_PG_ONE", "postgres://envhost/x", 1);
    assert_int_equal(conn_lookup("pg_one", db, &c, &e), 0);
    assert_string_equal(c.host, "envhost");
    conn_clear(&c);
    unsetenv("AIRFLOW_CONN_PG_ONE");
    /* an encrypted row */
    struct fernet f;
    assert_int_equal(fernet_generate_key(key, &e), 0);
    assert_int_equal(fernet_parse(&f, key, &e), 0);
    char *pw = fernet_encrypt(&f, "s3cr3t'\"", 8, 1700000000, &e);
    char *ex = fernet_encrypt(&f, "{\"k\": 1}", 8, 1700000000, &e);
    snprintf(sql, sizeof(sql),
             "insert into connection (conn_id, conn_type, host, password, extra, is_encrypted, "
             "is_extra_encrypted) values ('pg_enc', 'postgres', 'h', '%s', '%s', true, true)",
             pw, ex);
    query(sql);
    free(pw);
    free(ex);
    assert_int_equal(conn_lookup("pg_enc", db, &c, &e), -1); /* no key set */
    assert_non_null(strstr(e.msg, "no Fernet key"));
    assert_non_null(strstr(e.msg, "'pg_enc'"));
    setenv("AIRFLOW__CORE__FERNET_KEY", key, 1);
    if (conn_lookup("pg_enc", db, &c, &e) != 0)
        fail_msg("%s", e.msg);
    assert_string_equal(c.password, "s3cr3t'\"");
    assert_string_equal(c.extra, "{\"k\": 1}");
    conn_clear(&c);
    char other[45];
    assert_int_equal(fernet_generate_key(other, &e), 0);
    setenv("AIRFLOW__CORE__FERNET_KEY", other, 1);
    assert_int_equal(conn_lookup("pg_enc", db, &c, &e), -1);
    assert_non_null(strstr(e.msg, "invalid Fernet token"));
    unsetenv("AIRFLOW__CORE__FERNET_KEY");
    /* conn_lookup_default: a session of its own to $GUST_DATABASE_URL */
    setenv("GUST_DATABASE_URL", "dbname=" DB, 1);
    if (conn_lookup_default("pg_one", &c, &e) != 0)
        fail_msg("%s", e.msg);
    assert_string_equal(c.host, "dbhost");
    conn_clear(&c);
    assert_int_equal(conn_lookup_default("pg_none", &c, &e), -1);
    assert_int_equal(e.code, ERR_NOTFOUND);
    setenv("GUST_DATABASE_URL", "host=127.0.0.1 port=1 dbname=x password=hunter2", 1);
    assert_int_equal(conn_lookup_default("pg_one", &c, &e), -1);
    assert_int_equal(e.code, ERR_DB);
    assert_true(e.temporary);
    assert_non_null(strstr(e.msg, "connection 'pg_one': look it up in the metadata database"));
    assert_null(strstr(e.msg, "hunter2"));
    unsetenv("GUST_DATABASE_URL");
    /* missing row */
    assert_int_equal(conn_lookup("pg_none", db, &c, &e), -1);
    assert_int_equal(e.code, ERR_NOTFOUND);
    assert_non_null(strstr(e.msg, "'pg_none' not found"));
    PQfinish(db);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uri_airflow_cases),
        cmocka_unit_test(test_to_uri),
        cmocka_unit_test(test_uri_errors),
        cmocka_unit_test(test_json_form),
        cmocka_unit_test(test_env_lookup),
        cmocka_unit_test(test_conninfo),
        cmocka_unit_test(test_extra_and_secret_keys),
        cmocka_unit_test(test_fernet_spec_vector),
        cmocka_unit_test(test_fernet_multi),
        cmocka_unit_test_setup(test_db_lookup, need_db),
    };

    return pgtest_run_group_tests(tests, need_db, NULL, NULL);
}
