/* product_view_dims: the dimension warm-up of the product_view pipeline (task warm_up_dimensions
 * of DAG product_view_star; docs/pipelines.md).
 *
 * Two things, in one transaction:
 * - dim_date holds every day of --from .. --to (default: 1 January of last year to 31 December
 *   of next year, UTC); days already there are left alone (dim_date_fill() of
 *   migrations/0008_product_view.sql). The loader extends it when an event falls outside.
 * - with --catalogue FILE, a product catalogue CSV (header product_id,name,url,language_code,
 *   RFC 4180 quoting) fills dim_product: new products are inserted, and for a product already
 *   there the catalogue's name replaces the stored one while its URL and language only fill
 *   what is unknown (the event's own product URL, which the loader stores, wins). A known
 *   value is never overwritten by an empty one. The file is parsed by PostgreSQL's COPY (FORMAT
 *   csv, HEADER MATCH), so a malformed line is an error naming the line and nothing changes.
 *   A product listed twice: its last line wins.
 *
 * Exit 0 done; 1 SQL error or a bad catalogue (nothing changed); 100 bad arguments; 111
 * database unreachable. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pgconn.h"
#include "task.h"

#define USAGE                                                                                      \
    "product_view_dims [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--catalogue FILE]\n"                 \
    "                  [--database-url URL | --conn-id ID]\n"                                      \
    "Warm up the product_view star schema's dimensions: dim_date for every day of the range\n"     \
    "(default: 1 January of last year to 31 December of next year, UTC), and with --catalogue\n"   \
    "a CSV with the header product_id,name,url,language_code into dim_product (names from the\n"   \
    "catalogue; URL and language fill only what the events did not bring). One transaction.\n"     \
    "XCom: {\"dates_added\", \"catalogue_rows\", \"products_inserted\", \"products_updated\"}.\n"  \
    "Exit: 0 done; 1 SQL error or bad catalogue line (nothing changed); 100 bad arguments;\n"      \
    "111 database unreachable."

static const char CATALOGUE_TABLE[] =
    "CREATE TEMP TABLE product_catalogue (line bigint GENERATED ALWAYS AS IDENTITY,"
    " product_id text, name text, url text, language_code text) ON COMMIT DROP";
static const char CATALOGUE_COPY[] = "COPY product_catalogue (product_id, name, url, language_code)"
                                     " FROM STDIN (FORMAT csv, HEADER MATCH)";
/* Returns: catalogue rows, inserted, updated. */
static const char CATALOGUE_MERGE[] =
    "WITH c AS ("
    "  SELECT DISTINCT ON (product_id) product_id, nullif(name, '') AS name,"
    "         nullif(url, '') AS url, nullif(language_code, '') AS language_code"
    "  FROM product_catalogue WHERE coalesce(product_id, '') <> ''"
    "  ORDER BY product_id, line DESC"
    "), up AS ("
    "  INSERT INTO dim_product AS d (product_key, name, current_url, language_code)"
    "  SELECT product_id, name, url, language_code FROM c"
    "  ON CONFLICT (product_key) DO UPDATE"
    "    SET name = coalesce(EXCLUDED.name, d.name),"
    "        current_url = coalesce(d.current_url, EXCLUDED.current_url),"
    "        language_code = coalesce(d.language_code, EXCLUDED.language_code)"
    "  RETURNING (xmax = 0) AS inserted"
    ") SELECT (SELECT count(*) FROM product_catalogue), count(*) FILTER (WHERE inserted),"
    "         count(*) FILTER (WHERE NOT inserted) FROM up";

struct opts {
    const char *from, *to, *catalogue, *url, *conn_id;
};

/* Whether s is a date YYYY-MM-DD of the calendar. */
static int
date_check(const char *s, const char *what, struct err *e)
{
    struct tm tm = {0}, back;
    const char *end = s ? strptime(s, "%Y-%m-%d", &tm) : NULL;
    time_t t;

    if (end == NULL || *end != '\0' || strlen(s) != 10)
        return err_set(e, ERR_USAGE, "%s: '%s' is not a date YYYY-MM-DD", what, s ? s : "");
    back = tm;
    t = timegm(&back);
    gmtime_r(&t, &back);
    if (back.tm_mday != tm.tm_mday)
        return err_set(e, ERR_USAGE, "%s: '%s' is not a day of the calendar", what, s);
    return 0;
}

/* The default range around today (UTC) into from/to when not given; check both. */
static int
range_resolve(struct opts *o, char from[32], char to[32], struct err *e)
{
    time_t now = time(NULL);
    struct tm tm;

    gmtime_r(&now, &tm);
    if (o->from == NULL || *o->from == '\0') {
        snprintf(from, 32, "%04d-01-01", tm.tm_year + 1900 - 1);
        o->from = from;
    }
    if (o->to == NULL || *o->to == '\0') {
        snprintf(to, 32, "%04d-12-31", tm.tm_year + 1900 + 1);
        o->to = to;
    }
    if (date_check(o->from, "--from", e) < 0 || date_check(o->to, "--to", e) < 0)
        return -1;
    if (strcmp(o->from, o->to) > 0)
        return err_set(e, ERR_USAGE, "--from %s is after --to %s", o->from, o->to);
    return 0;
}

/* COPY the file into product_catalogue. */
static int
catalogue_copy(struct pgconn *db, const char *path, struct err *e)
{
    char buf[65536];
    size_t n;
    FILE *f = fopen(path, "r");
    int rc = 0;

    if (f == NULL)
        return err_set(e, ERR_USAGE, "--catalogue %s: %s", path, strerror(errno));
    if (pgconn_exec(db, CATALOGUE_TABLE, 0, NULL, NULL, e) < 0 ||
        pgconn_copy_begin(db, CATALOGUE_COPY, e) < 0) {
        fclose(f);
        return -1;
    }
    while (rc == 0 && (n = fread(buf, 1, sizeof(buf), f)) > 0)
        rc = pgconn_copy_data(db, buf, n, e);
    if (rc == 0 && ferror(f))
        rc = err_set(e, ERR_FAIL, "--catalogue %s: read error", path);
    fclose(f);
    if (pgconn_copy_end(db, NULL, rc == 0 ? e : NULL) < 0 && rc == 0)
        return err_prefix(e, "catalogue %s", path);
    return rc;
}

/* The warm-up's transaction; counts into xcom. */
static int
warm_up(struct pgconn *db, const struct opts *o, char *xcom, size_t n, struct err *e)
{
    const char *range[] = {o->from, o->to};
    struct pgconn_rows *r = NULL;
    const char *rows = "0", *ins = "0", *upd = "0", *added;
    int rc = -1;

    if (pgconn_begin(db, e) < 0 ||
        pgconn_query(db, "SELECT dim_date_fill($1::date, $2::date)", 2, range, &r, e) < 0)
        goto out;
    added = pgconn_rows_value(r, 0, 0);
    snprintf(xcom, n, "{\"dates_added\": %s", added);
    task_log("dim_date: %s .. %s, %s day(s) added", o->from, o->to, added);
    if (o->catalogue && *o->catalogue) {
        pgconn_rows_free(r);
        r = NULL;
        if (catalogue_copy(db, o->catalogue, e) < 0 ||
            pgconn_query(db, CATALOGUE_MERGE, 0, NULL, &r, e) < 0)
            goto out;
        rows = pgconn_rows_value(r, 0, 0);
        ins = pgconn_rows_value(r, 0, 1);
        upd = pgconn_rows_value(r, 0, 2);
        task_log("dim_product: catalogue %s, %s line(s): %s product(s) inserted, %s updated",
                 o->catalogue, rows, ins, upd);
    }
    snprintf(xcom + strlen(xcom), n - strlen(xcom),
             ", \"catalogue_rows\": %s, \"products_inserted\": %s, \"products_updated\": %s}", rows,
             ins, upd);
    rc = pgconn_commit(db, e);
out:
    pgconn_rows_free(r);
    return rc;
}

int
main(int argc, char **argv)
{
    struct opts o = {0};
    struct task_opt opts[] = {
        {"--from", "PRODUCT_VIEW_DATES_FROM", NULL, "first day of dim_date (YYYY-MM-DD)", &o.from,
         false, NULL},
        {"--to", "PRODUCT_VIEW_DATES_TO", NULL, "last day of dim_date (YYYY-MM-DD)", &o.to, false,
         NULL},
        {"--catalogue", "PRODUCT_VIEW_CATALOGUE", NULL,
         "product catalogue CSV: product_id,name,url,language_code", &o.catalogue, false, NULL},
        {"--database-url", "GUST_DATABASE_URL", NULL, "libpq conninfo or URI (else PG* variables)",
         &o.url, false, NULL},
        {"--conn-id", "GUST_CONN_ID", NULL,
         "Airflow connection id of the database (instead of --database-url)", &o.conn_id, false,
         NULL},
        {NULL, NULL, NULL, NULL, NULL, false, NULL},
    };
    char from[32], to[32], xcom[256];
    struct pgconn *db = NULL;
    struct err e = {0};
    int rc;

    task_set_name("product_view_dims");
    rc = task_parse(argc, argv, opts, USAGE, &e);
    if (rc == TASK_HELP)
        return TASK_OK;
    if (rc == 0 && range_resolve(&o, from, to, &e) == 0 &&
        pgconn_target(&o.url, o.conn_id, &e) == 0 && (db = pgconn_open(o.url, &e)) != NULL &&
        warm_up(db, &o, xcom, sizeof(xcom), &e) == 0 && task_xcom_write(xcom, &e) == 0) {
        pgconn_free(db);
        return TASK_OK;
    }
    task_log("error: %s", e.msg);
    pgconn_free(db);
    return task_exit_code(&e);
}
