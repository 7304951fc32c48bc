/* product_view_report: the six daily reports of the product_view pipeline (docs/pipelines.md,
 * "product_view reports") from the star schema of migrations/0008_product_view.sql.
 *
 *   product_view_report [--date YYYY-MM-DD] [--out DIR] [--database-url URL | --conn-id ID]
 *
 * For one UTC day (fact_sales.full_date; default today) it runs the six queries of
 * product_view_report_sql.h in one read-only REPEATABLE READ transaction, so the reports agree
 * with each other even while the loader writes, and writes into DIR/<date>/:
 *   <n>_<name>.csv   the report (RFC 4180, header row)
 *   <n>_<name>.dat   the chart's data for gnuplot (tab-separated, labels made safe)
 *   <n>_<name>.gp    the gnuplot script (run it in the folder to redraw the chart)
 *   <n>_<name>.png   the chart, drawn by gnuplot (pngcairo); "no data" for an empty report
 *   index.html, README.md  an overview: each report's chart, CSV link and first rows
 * Every file is written whole or not at all (temp file + rename); a rerun for the same day
 * replaces them. It prints each report's first rows (the busiest cells of the hourly ones)
 * and where the files are, and writes the XCom result
 * {"date", "dir", "reports": [{"name", "csv", "png", "rows"}]}.
 *
 * Exit codes: 0 done (an empty day too: the files say "no data"); 1 an SQL error, a file
 * that could not be written or gnuplot failing; 100 bad arguments (a --date that is not a
 * real YYYY-MM-DD day); 111 the database unreachable or the connection lost. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "pgconn.h"
#include "product_view_report_sql.h"
#include "report.h"
#include "task.h"

#define USAGE                                                                                      \
    "product_view_report [--date YYYY-MM-DD] [--out DIR] [--database-url URL | --conn-id ID]\n"    \
    "Write the six product_view reports of one UTC day (default today) as CSV and gnuplot PNG\n"   \
    "charts, with index.html and README.md, into DIR/<date>/. XCom: {\"date\", \"dir\",\n"         \
    "\"reports\": [{\"name\", \"csv\", \"png\", \"rows\"}]}. Exit 0 on success (an empty day "     \
    "too);\n1 on an SQL, file or gnuplot error; 100 on bad arguments; 111 when the database is\n"  \
    "unreachable or the connection broke."

enum chart_kind {
    CHART_BARS,    /* horizontal bars, rank 1 on top: label_cols give the label */
    CHART_LINES,   /* hour (col 0) x series: one line per series */
    CHART_STACKED, /* kind (col 0), hour (col 1) x family: stacked bars, one panel per kind */
};

struct report_def {
    const char *name;  /* file stem after "<n>_" */
    const char *title; /* chart and overview title */
    const char *about; /* one sentence for the overview */
    const char *sql;
    int ncols;
    const char *cols[5];
    enum chart_kind chart;
    int label_cols[2]; /* a bar's or line's label: main column, then an optional second (-1) */
    const char *label_join[2]; /* around the second: {" (", ")"} */
    bool group_colours;        /* bars: alternate two colours where column 0 changes */
    int series_col;            /* lines, stacked: the series' label column */
    int value_col;             /* the views */
    const char *xlabel, *ylabel;
};

static const struct report_def REPORTS[] = {
    {.name = "top_products",
     .title = "Top 10 products by views",
     .about = "The 10 products with the most views (one view = one event).",
     .sql = SQL_TOP_PRODUCTS,
     .ncols = 4,
     .cols = {"product_key", "name", "current_url", "views"},
     .chart = CHART_BARS,
     .label_cols = {1, 0},
     .label_join = {" (", ")"},
     .series_col = -1,
     .value_col = 3,
     .xlabel = "views",
     .ylabel = "product"},
    {.name = "top_countries",
     .title = "Top 10 countries by views",
     .about = "The 10 countries with the most views; events whose country is unknown are left "
              "out.",
     .sql = SQL_TOP_COUNTRIES,
     .ncols = 3,
     .cols = {"country_code", "country_name", "views"},
     .chart = CHART_BARS,
     .label_cols = {1, 0},
     .label_join = {" (", ")"},
     .series_col = -1,
     .value_col = 2,
     .xlabel = "views",
     .ylabel = "country"},
    {.name = "top_referrers",
     .title = "Top 5 referrer hosts by views",
     .about = "The 5 referrer hosts with the most views; events without a referrer are left out.",
     .sql = SQL_TOP_REFERRERS,
     .ncols = 2,
     .cols = {"referrer_url", "views"},
     .chart = CHART_BARS,
     .label_cols = {0, -1},
     .label_join = {"", ""},
     .series_col = -1,
     .value_col = 1,
     .xlabel = "views",
     .ylabel = "referrer host"},
    {.name = "stores_by_country",
     .title = "Store performance: top 5 stores of the top 10 countries",
     .about = "The stores of the 10 countries with the most views (as in report 2), ranked by "
              "views within their country with rank(); the stores ranked 1 to 5 (ties share a "
              "rank, so a country may show more than 5).",
     .sql = SQL_STORES_BY_COUNTRY,
     .ncols = 5,
     .cols = {"country_code", "country_name", "store_id", "views", "rank"},
     .chart = CHART_BARS,
     .label_cols = {1, 2},
     .label_join = {", store ", ""},
     .group_colours = true,
     .series_col = -1,
     .value_col = 3,
     .xlabel = "views",
     .ylabel = "country, store"},
    {.name = "hourly_products",
     .title = "Views per hour of the top 5 products",
     .about = "Views per hour (UTC, 0-23, zeros included) of the day's 5 most viewed products.",
     .sql = SQL_HOURLY_PRODUCTS,
     .ncols = 4,
     .cols = {"hour", "product_key", "name", "views"},
     .chart = CHART_LINES,
     .label_cols = {2, 1},
     .label_join = {" (", ")"},
     .series_col = 1,
     .value_col = 3,
     .xlabel = "hour of the day (UTC)",
     .ylabel = "views"},
    {.name = "hourly_browser_os",
     .title = "Views per hour by browser and by OS family",
     .about = "Views per hour (UTC, 0-23, zeros included) of the 6 most viewed browser families "
              "and OS families (version numbers dropped), the rest folded into Other.",
     .sql = SQL_HOURLY_BROWSER_OS,
     .ncols = 4,
     .cols = {"kind", "hour", "family", "views"},
     .chart = CHART_STACKED,
     .label_cols = {2, -1},
     .label_join = {"", ""},
     .series_col = 2,
     .value_col = 3,
     .xlabel = "hour of the day (UTC)",
     .ylabel = "views"},
};
#define NREPORTS ((int)(sizeof(REPORTS) / sizeof(REPORTS[0])))

/* Chart colours: one per series, "Other" always grey. */
static const char *const PALETTE[] = {"#4472c4", "#ed7d31", "#70ad47", "#ffc000",
                                      "#5b9bd5", "#a5489f", "#264478", "#9e480e"};
#define OTHER_COLOUR "#a0a0a0"
#define MAX_SERIES 8
#define LABEL_CHARS 40

/* What a run works on: the day, its folder and the reports' results. */
struct run {
    const char *date;
    const char *gnuplot;
    char dir[PATH_MAX]; /* DIR/<date> */
    struct report_table *tables[NREPORTS];
};

/* A file of the day's folder: dir/<n>_<name><ext>, or dir/<ext> when n is 0. */
static void
file_path(const struct run *r, int n, const char *ext, char *buf, size_t size)
{
    if (n == 0)
        snprintf(buf, size, "%s/%s", r->dir, ext);
    else
        snprintf(buf, size, "%s/%d_%s%s", r->dir, n, REPORTS[n - 1].name, ext);
}

/* ---- arguments ------------------------------------------------------------------------ */

/* *date must be a real calendar day written YYYY-MM-DD; NULL or "" means today (UTC), written
 * into buf. */
static int
check_date(const char **date, char *buf, size_t size, struct err *e)
{
    struct tm tm = {0}, back;
    time_t t;
    int y, m, d, end = 0;

    if (*date == NULL || **date == '\0') {
        t = time(NULL);
        strftime(buf, size, "%Y-%m-%d", gmtime_r(&t, &tm));
        *date = buf;
        return 0;
    }
    if (strlen(*date) != 10 || strspn(*date, "0123456789-") != 10 || (*date)[4] != '-' ||
        (*date)[7] != '-' || sscanf(*date, "%4d-%2d-%2d%n", &y, &m, &d, &end) != 3 || end != 10)
        return err_set(e, ERR_USAGE, "--date: '%.40s' is not a date written YYYY-MM-DD", *date);
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    t = timegm(&tm);
    if (y < 1 || gmtime_r(&t, &back) == NULL || back.tm_year != y - 1900 || back.tm_mon != m - 1 ||
        back.tm_mday != d)
        return err_set(e, ERR_USAGE, "--date: %s is not a day of the calendar", *date);
    return 0;
}

/* The day's folder DIR/<date>, created; r->dir becomes its absolute path (for the XCom
 * result, read by tasks that may run elsewhere). */
static int
make_dir(struct run *r, const char *out, struct err *e)
{
    char abs[PATH_MAX];

    if (snprintf(r->dir, sizeof(r->dir), "%s/%s", out, r->date) >= (int)sizeof(r->dir) - 64)
        return err_set(e, ERR_USAGE, "--out: folder name too long");
    if (report_mkdir_p(r->dir, e) < 0)
        return -1;
    if (realpath(r->dir, abs) == NULL)
        return err_set(e, ERR_IO, "%s: %s", r->dir, strerror(errno));
    if (strlen(abs) >= sizeof(r->dir) - 64)
        return err_set(e, ERR_USAGE, "--out: folder name too long");
    strcpy(r->dir, abs);
    return 0;
}

/* ---- queries -------------------------------------------------------------------------- */

/* Run one report's query and keep its rows. */
static int
query_report(struct pgconn *c, struct run *r, int i, struct err *e)
{
    const struct report_def *d = &REPORTS[i];
    const char *params[] = {r->date};
    struct pgconn_rows *rows = NULL;

    if (pgconn_query(c, d->sql, 1, params, &rows, e) < 0)
        return err_prefix(e, "report %d (%s)", i + 1, d->name);
    r->tables[i] = report_table_new(d->ncols, d->cols);
    if (r->tables[i] == NULL) {
        pgconn_rows_free(rows);
        return err_set(e, ERR_FAIL, "out of memory");
    }
    for (int row = 0; row < pgconn_rows_count(rows); row++) {
        const char *cells[5];
        for (int col = 0; col < d->ncols; col++)
            cells[col] = pgconn_rows_value(rows, row, col);
        if (report_table_add(r->tables[i], cells, e) < 0) {
            pgconn_rows_free(rows);
            return -1;
        }
    }
    pgconn_rows_free(rows);
    return 0;
}

/* All six queries in one read-only snapshot. */
static int
query_all(struct pgconn *c, struct run *r, struct err *e)
{
    static const char SNAPSHOT[] = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY";
    struct err ignored;

    if (pgconn_begin(c, e) < 0 || pgconn_exec(c, SNAPSHOT, 0, NULL, NULL, e) < 0)
        return err_prefix(e, "begin");
    for (int i = 0; i < NREPORTS; i++) {
        if (task_stopping())
            err_set(e, ERR_FAIL, "stopped by signal %d", task_stop_signal());
        if (task_stopping() || query_report(c, r, i, e) < 0) {
            if (!pgconn_lost(c))
                pgconn_rollback(c, &ignored);
            return -1;
        }
    }
    return pgconn_commit(c, e) < 0 ? err_prefix(e, "commit") : 0;
}

/* ---- chart data and scripts ----------------------------------------------------------- */

/* The label of row `row` for a bar or a line: main (cut to LABEL_CHARS) and second joined by
 * label_join ("Ring (P01)"), either one alone when the other is empty. */
static const char *
bar_label(const struct report_def *d, const struct report_table *t, int row, char *buf, size_t n)
{
    const char *main = report_cell(t, row, d->label_cols[0]);
    const char *second = d->label_cols[1] >= 0 ? report_cell(t, row, d->label_cols[1]) : NULL;
    char shortened[256], both[512];

    if (main && *main && second && *second) {
        report_label(main, LABEL_CHARS, "", shortened, sizeof(shortened));
        snprintf(both, sizeof(both), "%s%s%s%s", shortened, d->label_join[0], second,
                 d->label_join[1]);
        return report_label(both, 2 * LABEL_CHARS, "(none)", buf, n);
    }
    return report_label(main && *main ? main : second, LABEL_CHARS, "(none)", buf, n);
}

/* Bars: "views<TAB>label<TAB>group" per row, in the report's order; with group_colours the
 * group alternates 0/1 where column 0 changes (a country's stores share a colour). */
static void
bars_dat(FILE *f, const struct report_def *d, const struct report_table *t)
{
    char label[256];
    int group = 0;

    for (int row = 0; row < t->nrows; row++) {
        const char *v = report_cell(t, row, d->value_col);
        const char *key = report_cell(t, row, 0), *prev = report_cell(t, row - 1, 0);
        if (d->group_colours && row > 0 && strcmp(key ? key : "", prev ? prev : "") != 0)
            group = !group;
        fprintf(f, "%s\t%s\t%d\n", v ? v : "0", bar_label(d, t, row, label, sizeof(label)), group);
    }
}

/* The series of a long hourly table (rows of `kind` only, when kind is not NULL) in order of
 * first appearance; their labels into labels[][]. Returns how many (at most MAX_SERIES). */
static int
series_of(const struct report_def *d, const struct report_table *t, const char *kind,
          char labels[MAX_SERIES][128])
{
    const char *seen[MAX_SERIES];
    int n = 0;

    for (int row = 0; row < t->nrows && n < MAX_SERIES; row++) {
        const char *s = report_cell(t, row, d->series_col);
        if (kind && strcmp(report_cell(t, row, 0), kind) != 0)
            continue;
        int k = 0;
        while (k < n && strcmp(seen[k], s ? s : "") != 0)
            k++;
        if (k == n) {
            seen[n] = s ? s : "";
            if (d->chart == CHART_LINES)
                bar_label(d, t, row, labels[n], sizeof(labels[n]));
            else
                report_label(s, LABEL_CHARS, "(none)", labels[n], sizeof(labels[n]));
            n++;
        }
    }
    return n;
}

/* Hourly: a header row "hour<TAB>series..." and one row per hour with each series' views
 * (the rows of the table are hour by hour, the series in the same order each hour). Returns
 * the number of series. */
static int
hourly_dat(FILE *f, const struct report_def *d, const struct report_table *t, const char *kind)
{
    char labels[MAX_SERIES][128];
    int n = series_of(d, t, kind, labels), hour_col = d->chart == CHART_STACKED ? 1 : 0;

    fputs("hour", f);
    for (int k = 0; k < n; k++)
        fprintf(f, "\t%s", labels[k]);
    for (int row = 0, k = 0; row < t->nrows; row++) {
        if (kind && strcmp(report_cell(t, row, 0), kind) != 0)
            continue;
        if (k % n == 0)
            fprintf(f, "\n%s", report_cell(t, row, hour_col));
        fprintf(f, "\t%s", report_cell(t, row, d->value_col));
        k++;
    }
    fputc('\n', f);
    return n;
}

/* The lines every chart script starts with; height in pixels. */
static void
gp_head(FILE *f, const struct run *r, int n, int height)
{
    fprintf(f,
            "set encoding utf8\n"
            "set terminal pngcairo noenhanced size 1000,%d font 'DejaVu Sans,11'\n"
            "set output '%d_%s.png.tmp'\n"
            "set datafile separator \"\\t\"\n",
            height, n, REPORTS[n - 1].name);
    if (REPORTS[n - 1].chart != CHART_STACKED)
        fprintf(f, "set title '%s, %s (UTC)' font ',15'\n", REPORTS[n - 1].title, r->date);
}

/* The script of an empty report: its title and "no data". */
static void
gp_empty(FILE *f, const struct run *r, int n)
{
    gp_head(f, r, n, 600);
    if (REPORTS[n - 1].chart == CHART_STACKED)
        fprintf(f, "set title '%s, %s (UTC)' font ',15'\n", REPORTS[n - 1].title, r->date);
    fprintf(f,
            "unset border\nunset tics\nunset key\n"
            "set xrange [0:1]\nset yrange [0:1]\n"
            "set label 1 'no data for %s' at graph 0.5, 0.5 center font ',22' tc rgb '#808080'\n"
            "plot -1 notitle\n",
            r->date);
}

/* Horizontal bars, rank 1 on top, the value at the end of each bar. */
static void
gp_bars(FILE *f, const struct run *r, int n, int rows)
{
    const struct report_def *d = &REPORTS[n - 1];

    gp_head(f, r, n, rows > 16 ? 120 + rows * 26 : 600);
    fprintf(f,
            "set xlabel '%s'\nset ylabel '%s'\n"
            "set yrange [%d.4:-0.6]\nset xrange [0:*]\n"
            "set offsets 0, graph 0.1, 0, 0\n"
            "set ytics nomirror scale 0\nset xtics nomirror\nset grid xtics\nunset key\n"
            "set style fill solid 0.85 noborder\n"
            "plot '%d_%s.dat' using (0):0:(0):1:($0-0.38):($0+0.38):($3 > 0 ? 0x%s : 0x%s)"
            ":yticlabels(2) with boxxyerror lc rgb variable, \\\n"
            "     '' using 1:0:(sprintf(' %%d', $1)) with labels left\n",
            d->xlabel, d->ylabel, rows - 1, n, d->name, PALETTE[1] + 1, PALETTE[0] + 1);
}

/* One plot command over the series of a wide .dat: lines or stacked bars. */
static void
gp_series(FILE *f, const char *dat, int nseries, char labels[MAX_SERIES][128], bool stacked)
{
    fputs("plot ", f);
    for (int k = 0; k < nseries; k++) {
        const char *colour = strcmp(labels[k], "Other") == 0 ? OTHER_COLOUR : PALETTE[k];
        fprintf(f, "%s'%s' using %s%d%s title columnhead(%d)%s lc rgb '%s'", k ? ", \\\n     " : "",
                k ? "" : dat, stacked ? "" : "1:", k + 2, stacked && k == 0 ? ":xtic(1)" : "",
                k + 2, stacked ? "" : " with linespoints lw 2 pt 7 ps 0.8", colour);
    }
    fputc('\n', f);
}

/* Hour by hour: one line per product. */
static void
gp_lines(FILE *f, const struct run *r, int n, const struct report_table *t)
{
    const struct report_def *d = &REPORTS[n - 1];
    char labels[MAX_SERIES][128], dat[64];
    int k = series_of(d, t, NULL, labels);

    gp_head(f, r, n, 600);
    snprintf(dat, sizeof(dat), "%d_%s.dat", n, d->name);
    fprintf(f,
            "set xlabel '%s'\nset ylabel '%s'\n"
            "set xrange [-0.5:23.5]\nset xtics 0, 1, 23 nomirror\nset yrange [0:*]\n"
            "set ytics nomirror\nset grid\nset key outside right top vertical\n",
            d->xlabel, d->ylabel);
    gp_series(f, dat, k, labels, false);
}

/* Two panels, browsers above and OS below, each hour a bar stacked by family. */
static void
gp_stacked(FILE *f, const struct run *r, int n, const struct report_table *t)
{
    const struct report_def *d = &REPORTS[n - 1];
    static const char *const kinds[] = {"browser", "os"};
    static const char *const names[] = {"Browser families", "OS families"};

    gp_head(f, r, n, 950);
    fprintf(f,
            "set multiplot layout 2, 1 title '%s, %s (UTC)' font ',15'\n"
            "set style data histograms\nset style histogram rowstacked\n"
            "set style fill solid 0.9 border rgb 'white'\nset boxwidth 0.8\n"
            "set xlabel '%s'\nset ylabel '%s'\nset yrange [0:*]\nset xtics nomirror\n"
            "set ytics nomirror\nset grid ytics\nset key outside right top vertical\n",
            d->title, r->date, d->xlabel, d->ylabel);
    for (int i = 0; i < 2; i++) {
        char labels[MAX_SERIES][128], dat[80];
        int k = series_of(d, t, kinds[i], labels);
        snprintf(dat, sizeof(dat), "%d_%s_%s.dat", n, d->name, kinds[i]);
        fprintf(f, "set title '%s'\n", names[i]);
        if (k > 0)
            gp_series(f, dat, k, labels, true);
        else
            fputs("set label 1 'no data' at graph 0.5, 0.5 center\nplot -1 notitle\n"
                  "unset label 1\n",
                  f);
    }
    fputs("unset multiplot\n", f);
}

/* ---- files ---------------------------------------------------------------------------- */

/* A file being built in memory, then written whole. */
struct membuf {
    FILE *f;
    char *buf;
    size_t len;
};

static int
membuf_open(struct membuf *m, struct err *e)
{
    m->buf = NULL;
    m->len = 0;
    m->f = open_memstream(&m->buf, &m->len);
    return m->f ? 0 : err_set(e, ERR_FAIL, "out of memory");
}

/* Close m and write what it holds to path (temp file + rename); frees it either way. */
static int
membuf_write(struct membuf *m, const char *path, struct err *e)
{
    int rc = fclose(m->f) == 0 ? report_write_file(path, m->buf, m->len, e)
                               : err_set(e, ERR_FAIL, "%s: out of memory", path);
    free(m->buf);
    m->buf = NULL;
    return rc;
}

/* Report n's chart data: one .dat, or one per kind for the stacked chart. */
static int
write_chart_data(const struct run *r, int n, struct err *e)
{
    const struct report_def *d = &REPORTS[n - 1];
    const struct report_table *t = r->tables[n - 1];
    static const char *const kinds[] = {"browser", "os"};
    char path[PATH_MAX + 64], ext[32];
    struct membuf m;

    for (int i = 0; i < (d->chart == CHART_STACKED ? 2 : 1); i++) {
        snprintf(ext, sizeof(ext), d->chart == CHART_STACKED ? "_%s.dat" : ".dat", kinds[i]);
        file_path(r, n, ext, path, sizeof(path));
        if (membuf_open(&m, e) < 0)
            return -1;
        if (d->chart == CHART_BARS)
            bars_dat(m.f, d, t);
        else
            hourly_dat(m.f, d, t, d->chart == CHART_STACKED ? kinds[i] : NULL);
        if (membuf_write(&m, path, e) < 0)
            return -1;
    }
    return 0;
}

/* Report n's gnuplot script. */
static void
chart_script(FILE *f, const struct run *r, int n)
{
    const struct report_table *t = r->tables[n - 1];

    if (t->nrows == 0)
        gp_empty(f, r, n);
    else if (REPORTS[n - 1].chart == CHART_BARS)
        gp_bars(f, r, n, t->nrows);
    else if (REPORTS[n - 1].chart == CHART_LINES)
        gp_lines(f, r, n, t);
    else
        gp_stacked(f, r, n, t);
}

/* Draw report n's chart: write its script, run gnuplot in the folder, rename the image. */
static int
draw_chart(const struct run *r, int n, struct err *e)
{
    char path[PATH_MAX + 64], tmp[PATH_MAX + 64], script[64];
    struct membuf m;

    file_path(r, n, ".gp", path, sizeof(path));
    if (membuf_open(&m, e) < 0)
        return -1;
    chart_script(m.f, r, n);
    if (membuf_write(&m, path, e) < 0)
        return -1;
    snprintf(script, sizeof(script), "%d_%s.gp", n, REPORTS[n - 1].name);
    file_path(r, n, ".png.tmp", tmp, sizeof(tmp));
    file_path(r, n, ".png", path, sizeof(path));
    if (report_gnuplot(r->gnuplot, r->dir, script, e) < 0) {
        unlink(tmp);
        return err_prefix(e, "chart %d", n);
    }
    if (rename(tmp, path) < 0)
        return err_set(e, ERR_IO, "chart %d: rename %s: %s", n, tmp, strerror(errno));
    return 0;
}

/* Report n's files: CSV, chart data, script, chart. */
static int
write_report(const struct run *r, int n, struct err *e)
{
    char path[PATH_MAX + 64];
    struct membuf m;

    file_path(r, n, ".csv", path, sizeof(path));
    if (membuf_open(&m, e) < 0)
        return -1;
    report_csv(m.f, r->tables[n - 1]);
    if (membuf_write(&m, path, e) < 0 || write_chart_data(r, n, e) < 0)
        return err_prefix(e, "report %d", n);
    return draw_chart(r, n, e);
}

/* ---- overview ------------------------------------------------------------------------- */

#define PREVIEW_ROWS 10

/* Report n's section of index.html. */
static void
html_report(FILE *f, const struct run *r, int n)
{
    const struct report_def *d = &REPORTS[n - 1];
    const struct report_table *t = r->tables[n - 1];
    char file[80];

    fprintf(f, "<h2>%d. ", n);
    report_html(f, d->title);
    fputs("</h2>\n<p>", f);
    report_html(f, d->about);
    snprintf(file, sizeof(file), "%d_%s", n, d->name);
    fprintf(f, "</p>\n<p><a href=\"%s.csv\">%s.csv</a> (%d rows)</p>\n", file, file, t->nrows);
    fprintf(f, "<p><img src=\"%s.png\" alt=\"", file);
    report_html(f, d->title);
    fputs("\" width=\"1000\"></p>\n<table>\n<tr>", f);
    for (int c = 0; c < t->ncols; c++) {
        fputs("<th>", f);
        report_html(f, t->cols[c]);
        fputs("</th>", f);
    }
    fputs("</tr>\n", f);
    for (int row = 0; row < t->nrows && row < PREVIEW_ROWS; row++) {
        fputs("<tr>", f);
        for (int c = 0; c < t->ncols; c++) {
            fputs("<td>", f);
            report_html(f, report_cell(t, row, c));
            fputs("</td>", f);
        }
        fputs("</tr>\n", f);
    }
    fprintf(f, "</table>\n%s",
            t->nrows > PREVIEW_ROWS ? "<p>(first rows; all in the CSV)</p>\n" : "");
}

static void
html_page(FILE *f, const struct run *r)
{
    fprintf(f,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<title>product_view reports, %s</title>\n"
            "<style>body{font-family:sans-serif;margin:2em;max-width:1040px}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;"
            "text-align:left}img{max-width:100%%;border:1px solid #eee}</style>\n"
            "</head>\n<body>\n<h1>product_view reports, %s (UTC)</h1>\n"
            "<p>One view is one event (a fact_sales row) of the day.</p>\n",
            r->date, r->date);
    for (int n = 1; n <= NREPORTS; n++)
        html_report(f, r, n);
    fputs("</body>\n</html>\n", f);
}

/* Report n's section of README.md. */
static void
md_report(FILE *f, const struct run *r, int n)
{
    const struct report_def *d = &REPORTS[n - 1];
    const struct report_table *t = r->tables[n - 1];

    fprintf(f, "## %d. %s\n\n%s\n\n[%d_%s.csv](%d_%s.csv) (%d rows)\n\n![%s](%d_%s.png)\n\n", n,
            d->title, d->about, n, d->name, n, d->name, t->nrows, d->title, n, d->name);
    for (int c = 0; c < t->ncols; c++)
        fprintf(f, "| %s ", t->cols[c]);
    fputs("|\n", f);
    for (int c = 0; c < t->ncols; c++)
        fputs("|---", f);
    fputs("|\n", f);
    for (int row = 0; row < t->nrows && row < PREVIEW_ROWS; row++) {
        for (int c = 0; c < t->ncols; c++) {
            fputs("| ", f);
            report_md(f, report_cell(t, row, c));
            fputc(' ', f);
        }
        fputs("|\n", f);
    }
    fputs(t->nrows > PREVIEW_ROWS ? "\n(first rows; all in the CSV)\n\n" : "\n", f);
}

/* index.html and README.md. */
static int
write_overview(const struct run *r, struct err *e)
{
    char path[PATH_MAX + 64];
    struct membuf m;

    file_path(r, 0, "index.html", path, sizeof(path));
    if (membuf_open(&m, e) < 0)
        return -1;
    html_page(m.f, r);
    if (membuf_write(&m, path, e) < 0)
        return -1;
    file_path(r, 0, "README.md", path, sizeof(path));
    if (membuf_open(&m, e) < 0)
        return -1;
    fprintf(m.f,
            "# product_view reports, %s (UTC)\n\nOne view is one event (a fact_sales row) "
            "of the day. The charts' data and gnuplot scripts are beside them (.dat, .gp).\n\n",
            r->date);
    for (int n = 1; n <= NREPORTS; n++)
        md_report(m.f, r, n);
    return membuf_write(&m, path, e);
}

/* ---- results -------------------------------------------------------------------------- */

/* Up to 3 rows to show for report n: its first rows, or for the hourly ones the busiest. */
static int
rows_to_show(const struct report_def *d, const struct report_table *t, int out[3])
{
    int n = 0;

    for (int row = 0; row < t->nrows; row++) {
        long long v = strtoll(report_cell(t, row, d->value_col), NULL, 10);
        int k = d->chart == CHART_BARS ? n : 0;
        while (k < n && v <= strtoll(report_cell(t, out[k], d->value_col), NULL, 10))
            k++;
        if (k >= 3 || (d->chart == CHART_BARS && n == 3))
            continue;
        if (n < 3)
            n++;
        memmove(out + k + 1, out + k, (size_t)(n - 1 - k) * sizeof(int));
        out[k] = row;
    }
    return n;
}

/* Print a cell on one line: control characters (a name's line breaks) become spaces. */
static void
print_cell(const char *sep, const char *v)
{
    fputs(sep, stdout);
    for (; v && *v; v++)
        putchar((unsigned char)*v < 0x20 || *v == 0x7f ? ' ' : *v);
}

/* Print each report's file and its top rows on stdout. */
static void
print_summary(const struct run *r)
{
    char path[PATH_MAX + 64];
    int show[3];

    printf("product_view reports for %s in %s/ (index.html, README.md)\n", r->date, r->dir);
    for (int n = 1; n <= NREPORTS; n++) {
        const struct report_def *d = &REPORTS[n - 1];
        const struct report_table *t = r->tables[n - 1];
        int k = rows_to_show(d, t, show);
        file_path(r, n, ".csv", path, sizeof(path));
        printf("%d. %s: %d row(s), %s (+ .png)%s\n", n, d->title, t->nrows, path,
               d->chart == CHART_BARS ? ""
               : k                    ? " - busiest:"
                                      : "");
        for (int c = 0; k && c < t->ncols; c++)
            printf("%s%s", c ? " | " : "   ", t->cols[c]);
        printf(k ? "\n" : "   (no data)\n");
        for (int i = 0; i < k; i++) {
            for (int c = 0; c < t->ncols; c++)
                print_cell(c ? " | " : "   ", report_cell(t, show[i], c));
            putchar('\n');
        }
    }
}

/* The XCom result: {"date", "dir", "reports": [{"name", "csv", "png", "rows"}]}. */
static int
write_xcom(const struct run *r, struct err *e)
{
    char csv[PATH_MAX + 64], png[PATH_MAX + 64];
    json_t *doc = json_pack("{s:s, s:s, s:[]}", "date", r->date, "dir", r->dir, "reports");
    json_t *list = doc ? json_object_get(doc, "reports") : NULL;
    char *text = NULL;
    int rc;

    for (int n = 1; list && n <= NREPORTS; n++) {
        file_path(r, n, ".csv", csv, sizeof(csv));
        file_path(r, n, ".png", png, sizeof(png));
        char name[64];
        snprintf(name, sizeof(name), "%d_%s", n, REPORTS[n - 1].name);
        if (json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:i}", "name", name, "csv", csv,
                                                  "png", png, "rows", r->tables[n - 1]->nrows)) < 0)
            list = NULL;
    }
    if (list)
        text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (text == NULL)
        return err_set(e, ERR_FAIL, "xcom: out of memory (or a path that is not UTF-8)");
    rc = task_xcom_write(text, e);
    free(text);
    return rc;
}

/* ---- main ----------------------------------------------------------------------------- */

/* Query, write every file, print, XCom. */
static int
run_reports(struct pgconn *c, struct run *r, struct err *e)
{
    if (query_all(c, r, e) < 0)
        return -1;
    for (int n = 1; n <= NREPORTS; n++) {
        if (task_stopping())
            return err_set(e, ERR_FAIL, "stopped by signal %d", task_stop_signal());
        if (write_report(r, n, e) < 0)
            return -1;
    }
    if (write_overview(r, e) < 0)
        return -1;
    print_summary(r);
    return write_xcom(r, e);
}

int
main(int argc, char **argv)
{
    const char *url = NULL, *conn_id = NULL, *date = NULL, *out = NULL, *gnuplot = NULL;
    struct task_opt opts[] = {
        {"--date", NULL, NULL, "the UTC day YYYY-MM-DD (default: today)", &date, false, NULL},
        {"--out", "PRODUCT_VIEW_REPORTS_DIR", "reports",
         "folder of the reports; they go to DIR/<date>/ (empty: the default)", &out, false, NULL},
        {"--database-url", "GUST_DATABASE_URL", NULL,
         "libpq conninfo or URI (else the PG* variables)", &url, false, NULL},
        {"--conn-id", "GUST_CONN_ID", NULL,
         "Airflow connection id of the database (instead of --database-url)", &conn_id, false,
         NULL},
        {"--gnuplot", "PRODUCT_VIEW_GNUPLOT", "gnuplot", "the gnuplot program", &gnuplot, false,
         NULL},
        {NULL, NULL, NULL, NULL, NULL, false, NULL},
    };
    struct run r = {0};
    struct pgconn *c = NULL;
    struct err e = {0};
    char today[16];
    int rc;

    task_set_name("product_view_report");
    task_signals_init();
    rc = task_parse(argc, argv, opts, USAGE, &e);
    if (rc == TASK_HELP)
        return TASK_OK;
    if (out == NULL || *out == '\0')
        out = task_env("PRODUCT_VIEW_REPORTS_DIR", "reports");
    r.gnuplot = gnuplot && *gnuplot ? gnuplot : "gnuplot";
    if (rc < 0 || check_date(&date, today, sizeof(today), &e) < 0)
        goto out;
    r.date = date;
    if (pgconn_target(&url, conn_id, &e) < 0 || (c = pgconn_open(url, &e)) == NULL)
        goto out;
    if (make_dir(&r, out, &e) < 0 || run_reports(c, &r, &e) < 0)
        goto out;
    task_log("wrote %d reports for %s from %s into %s", NREPORTS, r.date, pgconn_where(c), r.dir);
    rc = TASK_OK;
    goto done;
out:
    task_log("error: %s", e.msg);
    rc = task_exit_code(&e);
done:
    for (int i = 0; i < NREPORTS; i++)
        report_table_free(r.tables[i]);
    pgconn_free(c);
    return rc;
}
