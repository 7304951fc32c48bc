/* cli_show: `gust dags show DAG_ID [--format text|dot] [--save FILE]` and `gust dags
 * show-dependencies` (the TriggerDagRunOperator links between DAGs, DOT or text).
 *
 * Text is an indented listing of tasks with their upstreams; DOT is Graphviz's language
 * (task groups as clusters). --save writes .dot itself and hands other extensions
 * (.png, .svg, .pdf) to graphviz's `dot`, spawned with an argv (no shell) and fed through
 * a pipe. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli_int.h"
#include "dagfile/dagfile.h"
#include "log.h"

/* DOT identifiers are quoted; inside quotes only '"' and '\' need escaping. */
static void
dot_quoted(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

static void
write_dot(FILE *out, const struct dag *dag)
{
    fprintf(out, "digraph ");
    dot_quoted(out, dag->dag_id);
    fprintf(out, " {\n  rankdir=LR;\n  node [shape=box, style=\"rounded,filled\", "
                 "fillcolor=\"#f0f0f0\", fontname=\"Helvetica\"];\n");
    for (size_t i = 0; i < dag->n_tasks; i++) {
        const struct dag_task *t = &dag->tasks[i];

        /* Tasks of a group are contiguous only by accident; one cluster per task keeps
         * the output valid either way (Graphviz merges same-named clusters' nodes). */
        if (t->group_id) {
            fprintf(out, "  subgraph ");
            char cluster[512];
            snprintf(cluster, sizeof(cluster), "cluster_%s", t->group_id);
            dot_quoted(out, cluster);
            fprintf(out, " { label=");
            dot_quoted(out, t->group_id);
            fprintf(out, "; ");
            dot_quoted(out, t->task_id);
            fprintf(out, " [tooltip=\"%s\"]; }\n", op_kind_name(t->op));
        } else {
            fprintf(out, "  ");
            dot_quoted(out, t->task_id);
            fprintf(out, " [tooltip=\"%s\"];\n", op_kind_name(t->op));
        }
    }
    for (size_t i = 0; i < dag->n_tasks; i++) {
        const struct dag_task *t = &dag->tasks[i];

        for (size_t j = 0; j < t->n_upstream; j++) {
            fprintf(out, "  ");
            dot_quoted(out, t->upstream[j]);
            fprintf(out, " -> ");
            dot_quoted(out, t->task_id);
            fprintf(out, ";\n");
        }
    }
    fprintf(out, "}\n");
}

static void
write_text(FILE *out, const struct dag *dag)
{
    fprintf(out, "DAG %s (%s, schedule %s, timezone %s)\n", dag->dag_id, dag->fileloc,
            dag->schedule.text, dag->timezone);
    for (size_t i = 0; i < dag->n_tasks; i++) {
        const struct dag_task *t = &dag->tasks[i];

        fprintf(out, "  %s [%s]", t->task_id, op_kind_name(t->op));
        if (t->trigger_rule != TR_ALL_SUCCESS)
            fprintf(out, " trigger_rule=%s", trigger_rule_name(t->trigger_rule));
        if (t->n_upstream > 0) {
            fprintf(out, " <- ");
            for (size_t j = 0; j < t->n_upstream; j++)
                fprintf(out, "%s%s", j ? ", " : "", t->upstream[j]);
        }
        fputc('\n', out);
    }
}

static const char *
extension(const char *path)
{
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');

    return dot && (!slash || dot > slash) ? dot + 1 : "";
}

/* Run `dot -T<fmt> -o path` with the DOT text on its stdin. */
static int
render_with_graphviz(const struct dag *dag, const char *fmt, const char *path)
{
    char tflag[32];
    int fds[2], status;
    pid_t pid;
    FILE *in;

    snprintf(tflag, sizeof(tflag), "-T%s", fmt);
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -1;
    pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(fds[0], 0);
        execlp("dot", "dot", tflag, "-o", path, (char *)NULL);
        _exit(127);
    }
    close(fds[0]);
    signal(SIGPIPE, SIG_IGN); /* dot exiting early must be an error, not our death */
    in = fdopen(fds[1], "w");
    if (in) {
        write_dot(in, dag);
        fclose(in);
    } else {
        close(fds[1]);
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
        log_error("graphviz 'dot' is not installed; install graphviz, or save as .dot");
        return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        log_error("dot failed to render %s", path);
        return -1;
    }
    return 0;
}

static int
save(const struct dag *dag, const char *format, const char *path)
{
    const char *ext = extension(path);
    FILE *f;

    if (strcmp(ext, "dot") == 0 || strcmp(ext, "gv") == 0 || strcmp(ext, "txt") == 0) {
        if ((f = fopen(path, "w")) == NULL) {
            log_error("cannot write %s: %s", path, strerror(errno));
            return -1;
        }
        if (strcmp(ext, "txt") == 0 && strcmp(format, "dot") != 0)
            write_text(f, dag);
        else
            write_dot(f, dag);
        if (fclose(f) != 0) {
            log_error("cannot write %s: %s", path, strerror(errno));
            return -1;
        }
        return 0;
    }
    if (strcmp(ext, "png") != 0 && strcmp(ext, "svg") != 0 && strcmp(ext, "pdf") != 0) {
        log_error("--save: unknown file type '.%s' (use .dot, .png, .svg or .pdf)", ext);
        return -1;
    }
    return render_with_graphviz(dag, ext, path);
}

int
cli_dags_show(const struct cli_args *a)
{
    const char *format = cli_arg(a, "format", "text"), *path = cli_arg(a, "save", NULL);
    const struct dag *dag;
    struct dagbag *bag;
    int rc = EXIT_OK;

    if (strcmp(format, "text") != 0 && strcmp(format, "dot") != 0)
        return cli_usage_error(a);
    if ((bag = cli_load_bag(cli_arg(a, "subdir", NULL))) == NULL)
        return EXIT_FAIL;
    dag = cli_find_dag(bag, a->argv[0]);
    if (dag == NULL) {
        rc = EXIT_FAIL;
    } else if (path) {
        rc = save(dag, format, path) < 0 ? EXIT_FAIL : EXIT_OK;
        if (rc == EXIT_OK)
            fprintf(stderr, "saved %s\n", path);
    } else if (strcmp(format, "dot") == 0) {
        write_dot(stdout, dag);
    } else {
        write_text(stdout, dag);
    }
    dagbag_free(bag);
    return rc;
}

/* ---- dags show-dependencies ---- */

/* "dag:A" -> "trigger:A:B:task" -> "dag:B" (or "asset:URI" in the middle when uri is set);
 * every name DOT-quoted. */
static void
dot_edge(FILE *out, const char *from, const char *to, const char *task_id, const char *uri)
{
    char *src = NULL, *mid = NULL, *dst = NULL;

    if (asprintf(&src, "dag:%s", from) >= 0 &&
        (uri ? asprintf(&mid, "asset:%s", uri)
             : asprintf(&mid, "trigger:%s:%s:%s", from, to, task_id)) >= 0 &&
        asprintf(&dst, "dag:%s", to) >= 0) {
        fputs("  ", out);
        dot_quoted(out, src);
        fputs(" -> ", out);
        dot_quoted(out, mid);
        fputs(" -> ", out);
        dot_quoted(out, dst);
        fputs(";\n", out);
    }
    free(src);
    free(mid);
    free(dst);
}

/* The asset edges of producer d's task t: to every DAG scheduled on one of its outlets. */
static void
asset_edges(FILE *out, const struct dagbag *bag, const struct dag *d, const struct dag_task *t,
            bool dot)
{
    for (size_t o = 0; o < t->n_outlets; o++)
        for (size_t j = 0; j < bag->n_dags; j++) {
            const struct dag *c = bag->dags[j];

            if (c->asset_schedule == NULL ||
                !asset_cond_names(c->asset_schedule, t->outlets[o].uri))
                continue;
            if (dot)
                dot_edge(out, d->dag_id, c->dag_id, t->task_id, t->outlets[o].uri);
            else
                fprintf(out, "%s -> %s (asset: %s, from %s)\n", d->dag_id, c->dag_id,
                        t->outlets[o].uri, t->task_id);
        }
}

/* Every cross-DAG edge of the bag (a TriggerDagRunOperator: its DAG -> the DAG it triggers; an
 * outlet: its DAG -> the DAGs scheduled on the asset), as "dag -> target (trigger: task)" /
 * "dag -> consumer (asset: URI, from task)" lines or DOT (Airflow's dag:, trigger:, asset:
 * node names). */
static void
write_dependencies(FILE *out, const struct dagbag *bag, bool dot)
{
    if (dot)
        fprintf(out, "digraph \"dag_dependencies\" {\n  rankdir=LR;\n");
    for (size_t i = 0; i < bag->n_dags; i++) {
        const struct dag *d = bag->dags[i];

        for (size_t k = 0; k < d->n_tasks; k++) {
            const struct dag_task *t = &d->tasks[k];

            asset_edges(out, bag, d, t, dot);
            if (t->op != OP_TRIGGER_DAGRUN || t->trigger_dag_id == NULL)
                continue;
            if (!dot) {
                fprintf(out, "%s -> %s (trigger: %s)\n", d->dag_id, t->trigger_dag_id, t->task_id);
                continue;
            }
            dot_edge(out, d->dag_id, t->trigger_dag_id, t->task_id, NULL);
        }
    }
    if (dot)
        fprintf(out, "}\n");
}

int
cli_dags_show_dependencies(const struct cli_args *a)
{
    const char *format = cli_arg(a, "format", "dot");
    struct dagbag *bag;

    if (strcmp(format, "dot") != 0 && strcmp(format, "text") != 0)
        return cli_usage_error(a);
    if ((bag = cli_load_bag(cli_arg(a, "subdir", NULL))) == NULL)
        return EXIT_FAIL;
    write_dependencies(stdout, bag, strcmp(format, "dot") == 0);
    dagbag_free(bag);
    return EXIT_OK;
}
