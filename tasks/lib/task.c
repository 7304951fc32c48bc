/* task: the task contract shared by every executable in tasks/ (see task.h, docs/architecture.md
 * "Task contract").
 *
 * Key invariants: a log line leaves in one write(2), so lines from librdkafka's threads and
 * ours never interleave mid-line; the XCom file is replaced by rename(2) of a complete,
 * fsynced temp file in the same folder, so KPO's sidecar never reads half a result; the signal
 * handler only stores the signal number in a sig_atomic_t. Nothing here exits the process. */
#include "task.h"

#include "fdio.h"
#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define XCOM_DEFAULT "/airflow/xcom/return.json"

static volatile sig_atomic_t stop_signal;

int
task_exit_code(const struct err *e)
{
    if (e == NULL)
        return TASK_OK;
    if (e->temporary)
        return TASK_TEMP;
    if (e->code == ERR_USAGE || e->code == ERR_PARSE)
        return TASK_USAGE;
    return TASK_FAIL;
}

void
task_set_name(const char *prog)
{
    log_open(prog ? prog : "task", true);
    setvbuf(stdout, NULL, _IOLBF, 0);
}

const char *
task_name(void)
{
    return log_name();
}

const char *
task_env(const char *name, const char *dflt)
{
    const char *v = name ? getenv(name) : NULL;

    return v && *v ? v : dflt;
}

bool
task_is_true(const char *s)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};

    for (size_t i = 0; s && i < sizeof(yes) / sizeof(yes[0]); i++)
        if (strcasecmp(s, yes[i]) == 0)
            return true;
    return false;
}

/* ---- flags ---- */

/* Does arg name opt? Sets *attached to the value given in the same argument, if any. */
static bool
opt_matches(const struct task_opt *o, const char *arg, const char **attached)
{
    size_t len = strlen(o->flag);

    *attached = NULL;
    if (strncmp(arg, o->flag, len) != 0)
        return false;
    if (arg[len] == '\0')
        return true;
    if (arg[len] == '=' && o->flag[1] == '-') {
        *attached = arg + len + 1;
        return true;
    }
    if (len == 2 && o->flag[0] == '-' && o->flag[1] != '-') { /* -Xkey=value */
        *attached = arg + len;
        return true;
    }
    return false;
}

static int
opt_store(struct task_opt *o, const char *v, struct err *e)
{
    if (o->list != NULL && task_list_add(o->list, v, e) < 0)
        return -1;
    if (o->value != NULL)
        *o->value = v;
    return 0;
}

static void
opts_defaults(struct task_opt *opts)
{
    for (struct task_opt *o = opts; o->flag != NULL; o++)
        if (o->value != NULL && o->list == NULL)
            *o->value = task_env(o->env, o->dflt);
}

/* Handle argv[*i]; advances *i past a separate value. */
static int
parse_one(int argc, char **argv, int *i, struct task_opt *opts, struct err *e)
{
    const char *arg = argv[*i], *v = NULL;
    struct task_opt *o;

    for (o = opts; o->flag != NULL; o++)
        if (opt_matches(o, arg, &v))
            break;
    if (o->flag == NULL) {
        if (arg[0] != '-' || arg[1] == '\0')
            return err_set(e, ERR_USAGE, "unexpected argument '%s' (see --help)", arg);
        int len = (int)strcspn(arg, "=");
        return err_set(e, ERR_USAGE, "unknown flag %.*s (see --help)", len, arg);
    }
    if (v == NULL && o->boolean)
        v = "1";
    if (v == NULL) {
        if (*i + 1 >= argc)
            return err_set(e, ERR_USAGE, "%s needs a value", o->flag);
        v = argv[++*i];
    }
    return opt_store(o, v, e);
}

int
task_parse(int argc, char **argv, struct task_opt *opts, const char *usage, struct err *e)
{
    opts_defaults(opts);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            task_usage(stdout, opts, usage);
            fflush(stdout);
            return TASK_HELP;
        }
        if (strcmp(argv[i], "--") == 0) {
            if (i + 1 < argc)
                return err_set(e, ERR_USAGE, "unexpected argument '%s' (see --help)", argv[i + 1]);
            break;
        }
        if (parse_one(argc, argv, &i, opts, e) < 0)
            return -1;
    }
    return 0;
}

void
task_usage(FILE *out, const struct task_opt *opts, const char *usage)
{
    fprintf(out, "usage: %s\n", usage ? usage : task_name());
    for (const struct task_opt *o = opts; o->flag != NULL; o++) {
        char left[64];
        const char *arg = o->boolean ? "" : o->list ? " KEY=VALUE" : " VALUE";

        snprintf(left, sizeof(left), "%s%s", o->flag, arg);
        fprintf(out, "  %-26s %s", left, o->help ? o->help : "");
        if (o->list != NULL)
            fprintf(out, " (repeatable)");
        if (o->env != NULL || o->dflt != NULL) {
            fprintf(out, " [");
            if (o->env != NULL)
                fprintf(out, "env %s%s", o->env, o->dflt ? "; " : "");
            if (o->dflt != NULL)
                fprintf(out, "default %s", o->dflt);
            fprintf(out, "]");
        }
        fprintf(out, "\n");
    }
    fprintf(out, "  %-26s %s\n", "-h, --help", "show this help");
}

int
task_parse_duration(const char *s, double *seconds)
{
    static const struct {
        const char *suffix;
        double factor;
    } units[] = {{"", 1}, {"s", 1}, {"ms", 0.001}, {"m", 60}, {"h", 3600}, {"d", 86400}};
    char num[64];
    size_t len = s ? strspn(s, "0123456789.") : 0;

    /* By hand rather than strtod alone: no sign, hex, "inf", "nan" or leading blanks. */
    if (len == 0 || len >= sizeof(num) || strspn(s, ".") == len)
        return -1;
    memcpy(num, s, len);
    num[len] = '\0';
    if (strchr(num, '.') != strrchr(num, '.'))
        return -1;
    double v = strtod(num, NULL);
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(s + len, units[i].suffix) == 0) {
            v *= units[i].factor;
            if (!isfinite(v))
                return -1;
            *seconds = v;
            return 0;
        }
    }
    return -1;
}

/* ---- lists and Kafka properties ---- */

int
task_list_add(struct task_list *l, const char *s, struct err *e)
{
    if (l->n + 2 > l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        char **v = realloc(l->v, cap * sizeof(*v));

        if (v == NULL)
            return err_set(e, ERR_FAIL, "out of memory");
        l->v = v;
        l->cap = cap;
    }
    if ((l->v[l->n] = strdup(s)) == NULL)
        return err_set(e, ERR_FAIL, "out of memory");
    l->v[++l->n] = NULL;
    return 0;
}

void
task_list_free(struct task_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

/* Remove every entry whose key (the text before '=') is the key of kv. */
static void
props_drop_key(struct task_list *l, const char *kv)
{
    size_t klen = strcspn(kv, "="), j = 0;

    for (size_t i = 0; i < l->n; i++) {
        if (strncmp(l->v[i], kv, klen) == 0 && l->v[i][klen] == '=')
            free(l->v[i]);
        else
            l->v[j++] = l->v[i];
    }
    l->n = j;
    if (l->v != NULL)
        l->v[j] = NULL;
}

static bool
in_list(const char *const *names, const char *name, size_t len)
{
    for (; names && *names; names++)
        if (strlen(*names) == len && strncmp(*names, name, len) == 0)
            return true;
    return false;
}

/* "KAFKA_SASL_MECHANISM=PLAIN" -> "sasl.mechanism=PLAIN" appended to out. */
static int
props_from_env_entry(const char *entry, const char *const *skip, struct task_list *out,
                     struct err *e)
{
    const char *eq = strchr(entry, '=');
    char buf[1024];

    if (strncmp(entry, "KAFKA_", 6) != 0 || eq == NULL || eq - entry <= 6 || eq[1] == '\0' ||
        in_list(skip, entry, (size_t)(eq - entry)))
        return 0;
    if (strlen(entry + 6) >= sizeof(buf))
        return err_set(e, ERR_USAGE, "environment variable %.*s: value too long", (int)(eq - entry),
                       entry);
    size_t i = 0;
    for (const char *p = entry + 6; p < eq; p++)
        buf[i++] = *p == '_' ? '.' : (char)tolower((unsigned char)*p);
    strcpy(buf + i, eq);
    return task_list_add(out, buf, e);
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int
task_kafka_props(const struct task_list *x, const char *const *skip_env, struct task_list *out,
                 struct err *e)
{
    for (char **env = environ; env && *env; env++)
        if (props_from_env_entry(*env, skip_env, out, e) < 0)
            goto fail;
    if (out->n > 1)
        qsort(out->v, out->n, sizeof(*out->v), cmp_str);
    for (size_t i = 0; x && i < x->n; i++) {
        const char *kv = x->v[i];

        if (kv[0] == '=' || strchr(kv, '=') == NULL) {
            err_set(e, ERR_USAGE, "-X %s: want key=value", kv);
            goto fail;
        }
        props_drop_key(out, kv); /* explicit -X wins, and each key appears once */
        if (task_list_add(out, kv, e) < 0)
            goto fail;
    }
    return 0;
fail:
    task_list_free(out);
    return -1;
}

/* ---- XCom ---- */

/* Write text into a new temp file in dir; *tmp receives its path. */
static int
xcom_write_temp(const char *dir, const char *text, char *tmp, size_t tmpsz, struct err *e)
{
    if ((size_t)snprintf(tmp, tmpsz, "%s/.xcom.tmp.XXXXXX", dir) >= tmpsz)
        return err_set(e, ERR_IO, "xcom folder path too long");
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return err_set(e, ERR_IO, "create temp file in %s: %s", dir, strerror(errno));
    /* mkostemp makes 0600; the reader (KPO's sidecar) may be another user. */
    if (fchmod(fd, 0644) < 0 || fd_write_all(fd, text, strlen(text)) < 0 || fsync(fd) < 0) {
        err_set(e, ERR_IO, "write %s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return -1;
    }
    if (close(fd) < 0) {
        err_set(e, ERR_IO, "close %s: %s", tmp, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

int
task_xcom_write(const char *json_text, struct err *e)
{
    const char *path = task_env("GUST_XCOM_FILE", XCOM_DEFAULT);
    char dir[PATH_MAX], tmp[PATH_MAX];

    if (strlen(path) >= sizeof(dir))
        return err_set(e, ERR_IO, "xcom: path too long");
    strcpy(dir, path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        strcpy(dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    if (mkdir_p(dir) < 0)
        return err_set(e, ERR_IO, "xcom %s: mkdir %s: %s", path, dir, strerror(errno));
    if (xcom_write_temp(dir, json_text, tmp, sizeof(tmp), e) < 0)
        return err_prefix(e, "xcom %s", path);
    if (rename(tmp, path) < 0) {
        err_set(e, ERR_IO, "xcom: rename %s -> %s: %s", tmp, path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    /* Make the rename itself durable; a failure here does not undo the result. */
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    return 0;
}

/* ---- signals ---- */

static void
on_stop_signal(int sig)
{
    stop_signal = sig;
}

void
task_signals_init(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: a blocking poll/read returns EINTR and sees the flag */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

bool
task_stopping(void)
{
    return stop_signal != 0;
}

int
task_stop_signal(void)
{
    return (int)stop_signal;
}
