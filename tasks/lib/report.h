/* report: the files of a tabular report (product_view_report): a table of text cells, CSV
 * (RFC 4180), a tab-separated data file gnuplot can read, HTML and Markdown escaping, files
 * written whole or not at all, and gnuplot run as a child process.
 *
 * Every file is written to "<path>.tmp" and renamed over <path>, so a reader sees the old
 * file or the whole new one. gnuplot gets an argv (no shell); it runs in the report folder,
 * so scripts name their files relative to it and no path is ever quoted into a script.
 * Nothing here prints or exits; errors follow err.h. */
#ifndef GUST_REPORT_H
#define GUST_REPORT_H

#include <stddef.h>
#include <stdio.h>

#include "err.h"

/* A table of text cells; a NULL cell is an SQL NULL (empty in CSV). Owns everything. */
struct report_table {
    int ncols, nrows;
    char **cols;  /* ncols column names */
    char **cells; /* nrows * ncols, row-major */
    int cap;      /* rows allocated */
};

/* A new empty table with these column names (copied). NULL when out of memory. */
struct report_table *report_table_new(int ncols, const char *const *cols);

/* Append a row of ncols cells (copied; NULL stays NULL). 0, or -1 (out of memory). */
int report_table_add(struct report_table *t, const char *const *cells, struct err *e);

/* The cell at (row, col): borrowed, NULL for NULL or out of range. */
const char *report_cell(const struct report_table *t, int row, int col);

/* Free a table. NULL ok. */
void report_table_free(struct report_table *t);

/* Write one CSV field (RFC 4180: quoted when it holds a comma, quote, CR or LF, or starts or
 * ends with a space; quotes doubled). NULL writes nothing. */
void report_csv_field(FILE *out, const char *s);

/* The table as CSV: a header row, then the rows, CRLF line ends (RFC 4180). */
void report_csv(FILE *out, const struct report_table *t);

/* Text for a gnuplot data file or label: tabs, line ends and other control characters become
 * spaces, double quotes become single ones (gnuplot reads a '#' as a comment only at the
 * start of a line: data files put a number first); at most max_chars UTF-8 characters (longer text
 * ends in "..."); empty or NULL gives dflt. buf of size n (always terminated). Returns buf. */
const char *report_label(const char *s, size_t max_chars, const char *dflt, char *buf, size_t n);

/* Write s escaped for HTML text or a quoted attribute (& < > " '). NULL writes nothing. */
void report_html(FILE *out, const char *s);

/* Write s escaped for a Markdown table cell: the characters that could start markup there
 * (! & * < > [ \ ] _ ` | ~) get a backslash, line ends become spaces. NULL writes nothing. */
void report_md(FILE *out, const char *s);

/* mkdir -p dir (mode 0755). 0, or -1 with ERR_IO naming the folder. */
int report_mkdir_p(const char *dir, struct err *e);

/* Write len bytes to path whole: path.tmp, then rename. 0, or -1 with ERR_IO. */
int report_write_file(const char *path, const char *data, size_t len, struct err *e);

/* Run `gnuplot script` (gnuplot: a program name looked up in PATH, or a path) in the folder
 * dir and wait for it: stdin from /dev/null, its stdout and stderr go to our stderr, default
 * signal dispositions; it stays in our process group so a stop signal to the task's group
 * reaches it. 0 when it exited 0; -1 with ERR_FAIL naming the script and its exit status or
 * signal, or ERR_NOTFOUND when gnuplot could not be started. */
int report_gnuplot(const char *gnuplot, const char *dir, const char *script, struct err *e);

#endif
