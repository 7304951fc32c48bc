/* cli_conn: `gust connections add|get|list|delete|import|export` and `gust
 * rotate-fernet-key`, with Airflow's flags and file formats.
 *
 * Key invariants: a password never reaches our output (get and list print "***", as do
 * values of extra whose key looks secret), nor an error message (conn_describe), nor stays
 * in our argv: --conn-password, --conn-uri and --conn-json are copied and overwritten in
 * argv at once (and "-" reads them from stdin, which never shows in `ps`). Export is the
 * exception by design: it is a backup, and writes passwords (file mode 0600). Without a
 * Fernet key, `add` and `import` say that values are stored in plain text. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cli_int.h"
#include "conn.h"
#include "fernet.h"
#include "log.h"
#include "store/store.h"

#define MASK "***"

static const char *const columns[] = {"conn_id", "conn_type", "description", "host",  "schema",
                                      "login",   "password",  "port",        "extra", NULL};

static void
free_secret(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

/* All of stdin as a string, one trailing newline dropped; NULL on error. */
static char *
read_stdin(const char *what)
{
    size_t len = 0, cap = 256;
    char *buf = malloc(cap);
    ssize_t n;

    while (buf) {
        if (len + 1 >= cap) {
            char *p = realloc(buf, cap *= 2);
            if (p == NULL)
                break;
            buf = p;
        }
        if ((n = read(0, buf + len, cap - len - 1)) < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            log_error("%s: cannot read stdin: %s", what, strerror(errno));
            free_secret(buf);
            return NULL;
        }
        if (n == 0) {
            buf[len] = '\0';
            if (len && buf[len - 1] == '\n')
                buf[--len] = '\0';
            if (len && buf[len - 1] == '\r')
                buf[--len] = '\0';
            return buf;
        }
        len += (size_t)n;
    }
    free(buf);
    log_error("%s: out of memory", what);
    return NULL;
}

/* The value of a secret option (NULL when absent): a copy, and the argv text overwritten
 * with 'x' so `ps` and /proc/PID/cmdline no longer show it; "-" reads stdin. *bad is set
 * on error. */
static char *
take_secret(const struct cli_args *a, const char *name, bool *bad)
{
    const char *v = cli_arg(a, name, NULL);
    char *copy;

    if (v == NULL)
        return NULL;
    if (strcmp(v, "-") == 0) {
        if ((copy = read_stdin(name)) == NULL)
            *bad = true;
        return copy;
    }
    if ((copy = strdup(v)) == NULL) {
        *bad = true;
        return NULL;
    }
    memset((char *)v, 'x', strlen(v)); /* optarg points into our argv */
    return copy;
}

/* extra with the values of secret-looking keys replaced by "***", at any depth. */
static void
mask_json(json_t *j)
{
    const char *k;
    json_t *v;
    size_t i;

    if (json_is_object(j)) {
        json_object_foreach(j, k, v)
        {
            if (conn_key_is_secret(k) && !json_is_null(v))
                json_object_set_new(j, k, json_string(MASK));
            else
                mask_json(v);
        }
    } else if (json_is_array(j)) {
        json_array_foreach(j, i, v) mask_json(v);
    }
}

static char *
masked_extra(const char *extra)
{
    json_t *j = extra ? json_loads(extra, 0, NULL) : NULL;
    char *out;

    if (j == NULL)
        return strdup(extra ? MASK : ""); /* unreadable extra: shown as a secret */
    mask_json(j);
    out = json_dumps(j, JSON_PRESERVE_ORDER | JSON_COMPACT);
    json_decref(j);
    return out;
}

/* One connection as a row for cli_print_rows: every cell a string, secrets masked. */
static json_t *
conn_row(const struct conn *c)
{
    json_t *row = json_object();
    char port[16] = "", *extra = masked_extra(c->extra);

    if (c->port)
        snprintf(port, sizeof(port), "%d", c->port);
    const char *vals[] = {c->conn_id,
                          c->conn_type,
                          c->description,
                          c->host,
                          c->schema,
                          c->login,
                          c->password ? MASK : NULL,
                          port,
                          extra};
    for (size_t i = 0; columns[i]; i++)
        json_object_set_new(row, columns[i], json_string(vals[i] ? vals[i] : ""));
    free(extra);
    return row;
}

/* The Fernet keys of the environment; a bad key is an error (printed). */
static int
load_keys(struct fernet *f)
{
    struct err e = {0};

    if (fernet_from_env(f, NULL, &e) < 0) {
        log_error("%s", e.msg);
        return -1;
    }
    return 0;
}

static void
plain_text_warning(const char *what)
{
    log_warn("no Fernet key is set (AIRFLOW__CORE__FERNET_KEY or GUST_FERNET_KEY): the "
             "password and extra of %s are stored in plain text in the connection table",
             what);
}

/* ---- add ------------------------------------------------------------------------------- */

/* Airflow's rule for a conn_id (sanitize_conn_id): 1 to 250 characters out of letters,
 * digits and _#!()-.:/\ . */
static bool
valid_conn_id(const char *id)
{
    size_t n = strlen(id);

    if (n == 0 || n > 250)
        return false;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        if (!isalnum(*p) && !strchr("_#!()-.:/\\", *p))
            return false;
    return true;
}

/* Build the connection of `add` from its flags; 0, or an exit code after a message. Long:
 * Airflow's rules for which flags go together come first, then the three ways to give a
 * connection; splitting them would scatter one decision table. */
static int
add_build(const struct cli_args *a, struct conn *c, char *uri, char *json, char *password)
{
    static const char *const fields[] = {"conn-type",     "conn-host", "conn-login",
                                         "conn-password", "conn-port", "conn-schema"};
    const char *id = a->argv[0], *extra = cli_arg(a, "conn-extra", NULL);
    struct err e = {0};

    if (!valid_conn_id(id)) {
        log_error("Could not create connection: the conn_id must be 1 to 250 letters, digits "
                  "and _#!()-.:/\\ (Airflow's rule)");
        return EXIT_USAGE;
    }
    if (!cli_flag(a, "conn-type") && !uri && !json) {
        log_error("Must supply either --conn-uri or --conn-json if not supplying --conn-type");
        return EXIT_USAGE;
    }
    if (uri && json) {
        log_error("Cannot supply both --conn-uri and --conn-json");
        return EXIT_USAGE;
    }
    if (uri || json) {
        for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
            if (cli_flag(a, fields[i])) {
                log_error("--%s is not compatible with --conn-%s", fields[i], uri ? "uri" : "json");
                return EXIT_USAGE;
            }
        if (json && extra) {
            log_error("--conn-extra is not compatible with --conn-json");
            return EXIT_USAGE;
        }
    }
    if ((uri ? conn_from_uri(id, uri, c, &e) : json ? conn_from_json(id, json, c, &e) : 0) < 0) {
        log_error("%s", e.msg);
        return EXIT_FAIL;
    }
    if (!uri && !json) {
        const char *port = cli_arg(a, "conn-port", NULL);
        char *end = NULL;
        long p = port ? strtol(port, &end, 10) : 0;
        if (port && (*port == '\0' || *end || p < 0 || p > 65535)) {
            log_error("connection '%s': --conn-port '%s' is not a port number", id, port);
            return EXIT_USAGE;
        }
        c->port = (int)p;
        c->conn_id = strdup(id);
        c->conn_type = strdup(cli_arg(a, "conn-type", ""));
#define OPT_DUP(field, name)                                                                       \
    c->field =                                                                                     \
        cli_arg(a, name, NULL) && *cli_arg(a, name, NULL) ? strdup(cli_arg(a, name, NULL)) : NULL
        OPT_DUP(host, "conn-host");
        OPT_DUP(login, "conn-login");
        OPT_DUP(schema, "conn-schema");
#undef OPT_DUP
        c->password = password && *password ? strdup(password) : NULL;
    }
    if (c->conn_type == NULL || *c->conn_type == '\0') {
        log_error("connection '%s': no conn_type (--conn-json must have \"conn_type\")", id);
        return EXIT_USAGE;
    }
    if (cli_arg(a, "conn-description", NULL)) {
        free(c->description);
        c->description = strdup(cli_arg(a, "conn-description", NULL));
    }
    if (extra) { /* the --conn-uri's query, if any, is replaced as Airflow's set_extra does */
        struct conn probe = {0};
        char *doc = NULL;
        json_t *wrap = json_pack("{s:s}", "extra", extra);
        if (wrap)
            doc = json_dumps(wrap, 0);
        json_decref(wrap);
        int rc = conn_from_json(id, doc, &probe, &e); /* validates: a JSON object */
        free(doc);
        if (rc < 0) {
            log_error("--conn-extra: %s", e.msg);
            return EXIT_USAGE;
        }
        free_secret(c->extra);
        c->extra = probe.extra, probe.extra = NULL;
        conn_clear(&probe);
    }
    return 0;
}

int
cli_connections_add(const struct cli_args *a)
{
    bool bad = false;
    char *uri = take_secret(a, "conn-uri", &bad), *json = take_secret(a, "conn-json", &bad);
    char *password = take_secret(a, "conn-password", &bad), desc[300];
    struct conn c = {0};
    struct fernet f;
    struct err e = {0};
    struct store *s = NULL;
    int rc = EXIT_FAIL;

    if (bad || load_keys(&f) < 0)
        goto out;
    if ((rc = add_build(a, &c, uri, json, password)) != 0)
        goto out;
    rc = EXIT_FAIL;
    if ((s = cli_open_store()) == NULL)
        goto out;
    if (store_conn_put(s, &c, false, &f, time(NULL), &e) < 0) {
        log_error("%s", e.msg);
        goto out;
    }
    if (f.nkeys == 0)
        plain_text_warning(c.conn_id);
    store_log_event(s, "connection.create", NULL, NULL, NULL, c.conn_id, NULL);
    conn_describe(&c, desc, sizeof(desc));
    printf("Successfully added `conn_id`=%s : %s\n", c.conn_id, desc);
    rc = EXIT_OK;
out:
    store_free(s);
    conn_clear(&c);
    free_secret(uri);
    free_secret(json);
    free_secret(password);
    OPENSSL_cleanse(&f, sizeof(f));
    return rc;
}

/* ---- get, list, delete ------------------------------------------------------------------ */

int
cli_connections_get(const struct cli_args *a)
{
    struct store *s = cli_open_store();
    struct conn c = {0};
    struct err e = {0};
    json_t *rows;

    if (s == NULL)
        return EXIT_FAIL;
    if (store_conn_lookup(s, a->argv[0], &c, &e) < 0) {
        log_error("%s", e.msg);
        store_free(s);
        return EXIT_FAIL;
    }
    store_free(s);
    rows = json_array();
    json_array_append_new(rows, conn_row(&c));
    cli_print_rows(rows, cli_arg(a, "output", "table"), columns);
    json_decref(rows);
    conn_clear(&c);
    return EXIT_OK;
}

int
cli_connections_list(const struct cli_args *a)
{
    const char *only = cli_arg(a, "conn-id", NULL);
    struct store *s = cli_open_store();
    struct err e = {0};
    char **ids = NULL;
    size_t n = 0;
    int rc = EXIT_OK;
    json_t *rows = json_array();

    if (s == NULL || store_conn_ids(s, &ids, &n, &e) < 0) {
        if (s)
            log_error("%s", e.msg);
        store_free(s);
        json_decref(rows);
        return EXIT_FAIL;
    }
    for (size_t i = 0; i < n; i++) {
        struct conn c = {0};
        if (only && strcmp(only, ids[i]) != 0)
            continue;
        if (store_conn_get(s, ids[i], &c, &e) < 0) { /* the other rows are still listed */
            log_error("%s", e.msg);
            rc = EXIT_FAIL;
            continue;
        }
        json_array_append_new(rows, conn_row(&c));
        conn_clear(&c);
    }
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    store_free(s);
    cli_print_rows(rows, cli_arg(a, "output", "table"), columns);
    json_decref(rows);
    return rc;
}

int
cli_connections_delete(const struct cli_args *a)
{
    struct store *s = cli_open_store();
    struct err e = {0};
    bool deleted = false;
    int rc = EXIT_FAIL;

    if (s == NULL)
        return EXIT_FAIL;
    if (store_conn_delete(s, a->argv[0], &deleted, &e) < 0)
        log_error("%s", e.msg);
    else if (!deleted)
        log_error("Did not find a connection with `conn_id`=%s", a->argv[0]);
    else {
        store_log_event(s, "connection.delete", NULL, NULL, NULL, a->argv[0], NULL);
        printf("Successfully deleted connection with `conn_id`=%s\n", a->argv[0]);
        rc = EXIT_OK;
    }
    store_free(s);
    return rc;
}

/* ---- export ----------------------------------------------------------------------------- */

/* Airflow's export object of one connection (extra as its stored JSON text). */
static json_t *
export_object(const struct conn *c)
{
    json_t *o = json_object();

#define S(k, v) json_object_set_new(o, k, (v) ? json_string(v) : json_null())
    S("conn_type", c->conn_type);
    S("description", c->description);
    S("login", c->login);
    S("password", c->password);
    S("host", c->host);
    json_object_set_new(o, "port", c->port ? json_integer(c->port) : json_null());
    S("schema", c->schema);
    S("extra", c->extra);
#undef S
    return o;
}

/* The export text of every connection of the table in format ("json" or "env"). */
static char *
export_text(struct store *s, const char *format, size_t *count)
{
    struct err e = {0};
    char **ids = NULL, *out = NULL;
    size_t n = 0;
    json_t *all = json_object();
    bool env = strcmp(format, "env") == 0, failed = false;
    char *lines = strdup("");

    if (store_conn_ids(s, &ids, &n, &e) < 0) {
        log_error("%s", e.msg);
        failed = true;
    }
    for (size_t i = 0; i < n && !failed; i++) {
        struct conn c = {0};
        if (store_conn_get(s, ids[i], &c, &e) < 0) {
            log_error("%s (nothing exported)", e.msg);
            failed = true;
            break;
        }
        if (env) {
            char *uri = conn_to_uri(&c), *next = NULL;
            if (uri && lines && asprintf(&next, "%s%s=%s\n", lines, c.conn_id, uri) < 0)
                next = NULL;
            free_secret(uri);
            free_secret(lines);
            lines = next;
        } else {
            json_object_set_new(all, c.conn_id, export_object(&c));
        }
        conn_clear(&c);
    }
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    if (!failed) {
        out =
            env ? lines : json_dumps(all, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
        if (env)
            lines = NULL;
        *count = n;
    }
    free_secret(lines);
    json_decref(all);
    return out;
}

/* ".json" -> "json"; NULL for another extension. */
static const char *
format_of(const char *path, const char *given)
{
    const char *dot = strrchr(path, '.');

    if (given)
        return given;
    if (strcmp(path, "-") == 0)
        return "json";
    if (dot && strcasecmp(dot, ".json") == 0)
        return "json";
    if (dot && strcasecmp(dot, ".env") == 0)
        return "env";
    return NULL;
}

int
cli_connections_export(const struct cli_args *a)
{
    const char *path = a->argv[0], *fmt = format_of(path, cli_arg(a, "file-format", NULL));
    struct store *s;
    size_t n = 0;
    char *text;
    int fd, rc = EXIT_FAIL;

    if (fmt == NULL || (strcmp(fmt, "json") != 0 && strcmp(fmt, "env") != 0)) {
        log_error("Unsupported file format. The file must have the extension .json or .env "
                  "(or give --file-format json|env)");
        return EXIT_USAGE;
    }
    if ((s = cli_open_store()) == NULL)
        return EXIT_FAIL;
    text = export_text(s, fmt, &n);
    store_free(s);
    if (text == NULL)
        return EXIT_FAIL;
    if (strcmp(path, "-") == 0) {
        fputs(text, stdout);
        if (strcmp(fmt, "json") == 0)
            fputc('\n', stdout);
        rc = EXIT_OK;
    } else if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0) {
        log_error("export: cannot create %s: %s", path, strerror(errno));
    } else {
        FILE *f = fdopen(fd, "w");
        if (f && fputs(text, f) >= 0 && fclose(f) == 0) {
            printf("%zu connections successfully exported to %s\n", n, path);
            rc = EXIT_OK;
        } else {
            log_error("export: cannot write %s: %s", path, strerror(errno));
        }
    }
    free_secret(text);
    return rc;
}

/* ---- import ----------------------------------------------------------------------------- */

/* One entry of an import file: a URI string or an object (extra as an object or a string;
 * extra_dejson accepted as Airflow's local file backend does). */
static int
import_entry(const char *id, json_t *v, struct conn *c, struct err *e)
{
    if (json_is_string(v))
        return conn_from_uri(id, json_string_value(v), c, e);
    if (!json_is_object(v))
        return err_set(e, ERR_PARSE, "connection '%s': expected a URI string or an object", id);
    json_t *copy = json_deep_copy(v), *dj = json_object_get(copy, "extra_dejson");
    if (dj && json_object_get(copy, "extra"))
        return json_decref(copy), err_set(e, ERR_PARSE,
                                          "connection '%s': give \"extra\" or \"extra_dejson\", "
                                          "not both",
                                          id);
    if (dj) {
        json_object_set(copy, "extra", dj);
        json_object_del(copy, "extra_dejson");
    }
    char *text = json_dumps(copy, 0);
    json_decref(copy);
    int rc = conn_from_json(id, text, c, e);
    free_secret(text);
    if (rc == 0 && (c->conn_type == NULL || *c->conn_type == '\0')) {
        conn_clear(c);
        return err_set(e, ERR_PARSE, "connection '%s': no conn_type", id);
    }
    return rc;
}

/* A .env file (CONN_ID=URI or CONN_ID={json}, # comments) as a JSON object. */
static json_t *
parse_env_file(const char *path, FILE *f, struct err *e)
{
    json_t *obj = json_object();
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0;

    while (getline(&line, &cap, f) > 0) {
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        char *p = line + strspn(line, " \t"), *eq = strchr(p, '=');
        if (*p == '\0' || *p == '#')
            continue;
        if (eq == NULL || eq == p) {
            err_set(e, ERR_PARSE, "%s:%d: expected CONN_ID=URI", path, lineno);
            json_decref(obj);
            obj = NULL;
            break;
        }
        *eq = '\0';
        char *val = eq + 1 + strspn(eq + 1, " \t");
        json_t *j = *val == '{' ? json_loads(val, 0, NULL) : json_string(val);
        if (j == NULL) {
            err_set(e, ERR_PARSE, "%s:%d: connection '%s' is not JSON", path, lineno, p);
            json_decref(obj);
            obj = NULL;
            break;
        }
        json_object_set_new(obj, p, j);
    }
    if (line)
        OPENSSL_cleanse(line, cap);
    free(line);
    return obj;
}

static json_t *
load_import_file(const char *path, struct err *e)
{
    const char *fmt = format_of(path, NULL);
    json_error_t je;
    json_t *j = NULL;
    FILE *f;

    if (fmt == NULL) {
        err_set(e, ERR_USAGE, "%s: unsupported file format (want .json or .env)", path);
        return NULL;
    }
    if ((f = fopen(path, "re")) == NULL) {
        err_set(e, ERR_IO, "Missing connections file %s: %s", path, strerror(errno));
        return NULL;
    }
    if (strcmp(fmt, "env") == 0)
        j = parse_env_file(path, f, e);
    else if ((j = json_loadf(f, 0, &je)) == NULL)
        err_set(e, ERR_PARSE, "%s:%d:%d: %s", path, je.line, je.column, je.text);
    else if (!json_is_object(j)) {
        err_set(e, ERR_PARSE, "%s: expected a JSON object of conn_id: connection", path);
        json_decref(j);
        j = NULL;
    }
    fclose(f);
    return j;
}

int
cli_connections_import(const struct cli_args *a)
{
    bool overwrite = cli_flag(a, "overwrite");
    struct err e = {0};
    struct fernet f;
    struct store *s = NULL;
    json_t *all = NULL, *v;
    const char *id;
    int rc = EXIT_FAIL, failed = 0;

    if (load_keys(&f) < 0)
        return EXIT_FAIL;
    if ((all = load_import_file(a->argv[0], &e)) == NULL) {
        log_error("%s", e.msg);
        return EXIT_FAIL;
    }
    if ((s = cli_open_store()) == NULL)
        goto out;
    if (f.nkeys == 0 && json_object_size(all) > 0)
        plain_text_warning("the imported connections");
    json_object_foreach(all, id, v)
    {
        struct conn c = {0};
        if (!valid_conn_id(id)) {
            log_error("Could not import connection: the conn_id must be 1 to 250 letters, "
                      "digits and _#!()-.:/\\ (Airflow's rule)");
            failed++;
            continue;
        }
        if (import_entry(id, v, &c, &e) < 0) {
            log_error("Could not import connection %s: %s", id, e.msg);
            failed++;
            continue;
        }
        if (store_conn_put(s, &c, overwrite, &f, time(NULL), &e) < 0) {
            if (e.code == ERR_EXISTS)
                printf("Could not import connection %s: connection already exists.\n", id);
            else {
                log_error("Could not import connection %s: %s", id, e.msg);
                failed++;
            }
        } else {
            printf("Imported connection %s\n", id);
        }
        conn_clear(&c);
    }
    rc = failed ? EXIT_FAIL : EXIT_OK;
out:
    store_free(s);
    json_decref(all);
    OPENSSL_cleanse(&f, sizeof(f));
    return rc;
}

/* ---- rotate-fernet-key ---------------------------------------------------------------- */

int
cli_rotate_fernet_key(const struct cli_args *a)
{
    struct fernet f;
    struct err e = {0};
    struct store *s;
    int n = 0, rc = EXIT_FAIL;

    (void)a;
    if (load_keys(&f) < 0)
        return EXIT_FAIL;
    if (f.nkeys == 0) {
        log_error("rotate-fernet-key: no Fernet key is set (AIRFLOW__CORE__FERNET_KEY or "
                  "GUST_FERNET_KEY: \"new_key,old_key\")");
        return EXIT_FAIL;
    }
    if ((s = cli_open_store()) == NULL)
        return EXIT_FAIL;
    if (store_conn_rotate(s, &f, &n, &e) < 0)
        log_error("%s", e.msg);
    else {
        printf("Re-encrypted %d connection(s) with the first Fernet key\n", n);
        rc = EXIT_OK;
    }
    store_free(s);
    OPENSSL_cleanse(&f, sizeof(f));
    return rc;
}
