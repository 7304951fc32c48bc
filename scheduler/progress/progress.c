/* progress: see progress.h. The table keeps one row per task seen, in order of appearance;
 * redrawing moves the cursor up over the previous table (ANSI), so scrollback keeps only the
 * final picture. */
#include "progress/progress.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

struct row {
    char *key; /* "dag_id run_id task_id" */
    char *label;
    enum ti_state state;
    int try_number;
};

struct progress {
    FILE *out;
    bool redraw;
    struct row *rows;
    size_t n_rows;
    int drawn; /* lines of the table on screen */
    char run_line[512];
};

struct progress *
progress_new(FILE *out, bool redraw)
{
    struct progress *p = calloc(1, sizeof(*p));

    if (p) {
        p->out = out;
        p->redraw = redraw;
    }
    return p;
}

void
progress_free(struct progress *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n_rows; i++) {
        free(p->rows[i].key);
        free(p->rows[i].label);
    }
    free(p->rows);
    free(p);
}

static void
stamp(char buf[32])
{
    struct timespec ts;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(buf, 32, "%02d:%02d:%02d.%03ld", tm.tm_hour, tm.tm_min, tm.tm_sec,
             ts.tv_nsec / 1000000);
}

static struct row *
row_for(struct progress *p, const struct runner_event *ev)
{
    char key[1024];
    struct row *grown;

    snprintf(key, sizeof(key), "%s %s %s", ev->dag_id, ev->run_id, ev->task_id);
    for (size_t i = 0; i < p->n_rows; i++)
        if (strcmp(p->rows[i].key, key) == 0)
            return &p->rows[i];
    if ((grown = realloc(p->rows, (p->n_rows + 1) * sizeof(*grown))) == NULL)
        return NULL;
    p->rows = grown;
    grown = &p->rows[p->n_rows++];
    grown->key = strdup(key);
    if (asprintf(&grown->label, "%s.%s", ev->dag_id, ev->task_id) < 0)
        grown->label = NULL;
    grown->state = TI_NONE;
    grown->try_number = 0;
    return grown;
}

static void
draw_table(struct progress *p)
{
    if (p->drawn > 0)
        fprintf(p->out, "\033[%dA", p->drawn);
    p->drawn = 0;
    for (size_t i = 0; i < p->n_rows; i++, p->drawn++) {
        fprintf(p->out, "\033[K  %-50s %-16s", p->rows[i].label ? p->rows[i].label : "?",
                ti_state_name(p->rows[i].state));
        if (p->rows[i].try_number > 0)
            fprintf(p->out, " try %d", p->rows[i].try_number);
        fputc('\n', p->out);
    }
    fprintf(p->out, "\033[K%s\n", p->run_line);
    p->drawn++;
    fflush(p->out);
}

void
progress_event(void *arg, const struct runner_event *ev)
{
    struct progress *p = arg;
    char now[32];

    stamp(now);
    if (ev->task_id == NULL) {
        snprintf(p->run_line, sizeof(p->run_line), "run %s of %s: %s", ev->run_id, ev->dag_id,
                 run_state_name(ev->run_state));
        if (!p->redraw) {
            fprintf(p->out, "%s %s\n", now, p->run_line);
            fflush(p->out);
        } else {
            draw_table(p);
        }
        return;
    }
    if (p->redraw) {
        struct row *row = row_for(p, ev);

        if (row) {
            row->state = ev->ti_state;
            if (ev->try_number > 0)
                row->try_number = ev->try_number;
        }
        draw_table(p);
        return;
    }
    fprintf(p->out, "%s %s %s %s -> %s", now, ev->dag_id, ev->run_id, ev->task_id,
            ti_state_name(ev->ti_state));
    if (ev->try_number > 0)
        fprintf(p->out, " (try %d)", ev->try_number);
    if (ev->detail)
        fprintf(p->out, ": %s", ev->detail);
    fputc('\n', p->out);
    fflush(p->out);
}
