/* report: tables, CSV, labels, escaping, whole-file writes and gnuplot for the report
 * executables (report.h).
 *
 * Key invariant: a file a report names is complete or absent (temp file + rename), and the
 * text that reaches gnuplot's data files has no character gnuplot would read as syntax (tab,
 * line end, double quote). */
#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fdio.h"

extern char **environ;

struct report_table *
report_table_new(int ncols, const char *const *cols)
{
    struct report_table *t = calloc(1, sizeof(*t));

    if (t == NULL || (t->cols = calloc((size_t)ncols, sizeof(char *))) == NULL) {
        free(t);
        return NULL;
    }
    t->ncols = ncols;
    for (int i = 0; i < ncols; i++) {
        if ((t->cols[i] = strdup(cols[i])) == NULL) {
            report_table_free(t);
            return NULL;
        }
    }
    return t;
}

int
report_table_add(struct report_table *t, const char *const *cells, struct err *e)
{
    if (t->nrows == t->cap) {
        int cap = t->cap ? t->cap * 2 : 16;
        char **v = realloc(t->cells, (size_t)cap * (size_t)t->ncols * sizeof(char *));
        if (v == NULL)
            return err_set(e, ERR_FAIL, "out of memory");
        t->cells = v;
        t->cap = cap;
    }
    char **row = t->cells + (size_t)t->nrows * (size_t)t->ncols;
    for (int i = 0; i < t->ncols; i++) {
        row[i] = cells[i] ? strdup(cells[i]) : NULL;
        if (cells[i] && row[i] == NULL) {
            while (i-- > 0)
                free(row[i]);
            return err_set(e, ERR_FAIL, "out of memory");
        }
    }
    t->nrows++;
    return 0;
}

const char *
report_cell(const struct report_table *t, int row, int col)
{
    if (row < 0 || row >= t->nrows || col < 0 || col >= t->ncols)
        return NULL;
    return t->cells[(size_t)row * (size_t)t->ncols + (size_t)col];
}

void
report_table_free(struct report_table *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < (size_t)t->nrows * (size_t)t->ncols; i++)
        free(t->cells[i]);
    for (int i = 0; t->cols && i < t->ncols; i++)
        free(t->cols[i]);
    free(t->cells);
    free(t->cols);
    free(t);
}

void
report_csv_field(FILE *out, const char *s)
{
    if (s == NULL)
        return;
    size_t n = strlen(s);
    if (strpbrk(s, ",\"\r\n") == NULL && (n == 0 || (s[0] != ' ' && s[n - 1] != ' '))) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

void
report_csv(FILE *out, const struct report_table *t)
{
    for (int c = 0; c < t->ncols; c++) {
        if (c)
            fputc(',', out);
        report_csv_field(out, t->cols[c]);
    }
    fputs("\r\n", out);
    for (int r = 0; r < t->nrows; r++) {
        for (int c = 0; c < t->ncols; c++) {
            if (c)
                fputc(',', out);
            report_csv_field(out, report_cell(t, r, c));
        }
        fputs("\r\n", out);
    }
}

/* Length of the UTF-8 sequence starting with byte c (1 for anything malformed). */
static size_t
utf8_len(unsigned char c)
{
    if (c >= 0xf0 && c < 0xf8)
        return 4;
    if (c >= 0xe0)
        return c < 0xf0 ? 3 : 1;
    if (c >= 0xc0)
        return 2;
    return 1;
}

const char *
report_label(const char *s, size_t max_chars, const char *dflt, char *buf, size_t n)
{
    size_t o = 0, chars = 0;

    buf[0] = '\0';
    for (const char *p = s ? s : ""; *p && o + 8 < n; chars++) {
        size_t len = utf8_len((unsigned char)*p);
        if (chars == max_chars) {
            strcpy(buf + o, "...");
            return buf;
        }
        if (strnlen(p, len) < len)
            break; /* a sequence cut short by the end of the text */
        if (len == 1) {
            unsigned char c = (unsigned char)*p;
            char out = *p;
            if (c < 0x20 || c == 0x7f)
                out = ' ';
            else if (c == '"')
                out = '\'';
            buf[o++] = out;
        } else {
            memcpy(buf + o, p, len);
            o += len;
        }
        p += len;
    }
    buf[o] = '\0';
    if (strspn(buf, " ") == o)
        snprintf(buf, n, "%s", dflt);
    return buf;
}

void
report_html(FILE *out, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", out);
            break;
        case '<':
            fputs("&lt;", out);
            break;
        case '>':
            fputs("&gt;", out);
            break;
        case '"':
            fputs("&quot;", out);
            break;
        case '\'':
            fputs("&#39;", out);
            break;
        default:
            fputc(*s, out);
        }
    }
}

void
report_md(FILE *out, const char *s)
{
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\r' || c == '\n')
            fputc(' ', out);
        else if (c < 0x80 && strchr("!&*<>[\\]_`|~", c))
            fprintf(out, "\\%c", c);
        else
            fputc(c, out);
    }
}

int
report_mkdir_p(const char *dir, struct err *e)
{
    if (mkdir_p(dir) < 0)
        return err_set(e, ERR_IO, "create folder %s: %s", dir, strerror(errno));
    return 0;
}

int
report_write_file(const char *path, const char *data, size_t len, struct err *e)
{
    char tmp[4200];
    int fd;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return err_set(e, ERR_IO, "file name too long: %.64s...", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return err_set(e, ERR_IO, "create %s: %s", tmp, strerror(errno));
    if (fd_write_all(fd, data, len) < 0) {
        err_set(e, ERR_IO, "write %s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return -1;
    }
    if (close(fd) < 0 || rename(tmp, path) < 0) {
        err_set(e, ERR_IO, "write %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* Spawn attributes for gnuplot: no blocked signals, and the signals a task catches or
 * ignores (SIGTERM, SIGINT, SIGPIPE) back to their defaults. */
static int
gnuplot_attr(posix_spawnattr_t *attr)
{
    sigset_t none, dflt;

    sigemptyset(&none);
    sigemptyset(&dflt);
    sigaddset(&dflt, SIGTERM);
    sigaddset(&dflt, SIGINT);
    sigaddset(&dflt, SIGPIPE);
    if (posix_spawnattr_init(attr) != 0)
        return -1;
    if (posix_spawnattr_setsigmask(attr, &none) != 0 ||
        posix_spawnattr_setsigdefault(attr, &dflt) != 0 ||
        posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF) != 0) {
        posix_spawnattr_destroy(attr);
        return -1;
    }
    return 0;
}

/* Wait for pid (through EINTR: a stop signal also reached gnuplot, in our group) and turn its
 * end into 0 or an error. */
static int
gnuplot_wait(pid_t pid, const char *script, struct err *e)
{
    int status;

    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return err_set(e, ERR_FAIL, "gnuplot %s: waitpid: %s", script, strerror(errno));
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFSIGNALED(status))
        return err_set(e, ERR_FAIL, "gnuplot %s: killed by signal %d", script, WTERMSIG(status));
    return err_set(e, ERR_FAIL, "gnuplot %s: exit status %d (its messages are above)", script,
                   WEXITSTATUS(status));
}

int
report_gnuplot(const char *gnuplot, const char *dir, const char *script, struct err *e)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    char *argv[] = {(char *)gnuplot, (char *)script, NULL};
    pid_t pid;
    int rc;

    if (gnuplot_attr(&attr) < 0)
        return err_set(e, ERR_FAIL, "gnuplot: spawn attributes: out of memory");
    if (posix_spawn_file_actions_init(&fa) != 0) {
        posix_spawnattr_destroy(&attr);
        return err_set(e, ERR_FAIL, "gnuplot: spawn actions: out of memory");
    }
    rc = posix_spawn_file_actions_addchdir_np(&fa, dir);
    if (rc == 0)
        rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (rc == 0)
        rc = posix_spawn_file_actions_adddup2(&fa, 2, 1);
    if (rc == 0)
        rc = posix_spawnp(&pid, gnuplot, &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc == ENOENT)
        return err_set(e, ERR_NOTFOUND,
                       "gnuplot: cannot run '%s' in %s: %s (install gnuplot-nox or set "
                       "--gnuplot)",
                       gnuplot, dir, strerror(rc));
    if (rc != 0)
        return err_set(e, ERR_FAIL, "gnuplot: cannot run '%s' in %s: %s", gnuplot, dir,
                       strerror(rc));
    return gnuplot_wait(pid, script, e);
}
