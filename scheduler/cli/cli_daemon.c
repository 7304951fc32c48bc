/* cli_daemon: `gust scheduler`, `gust worker`, `gust jobs check`: option parsing and set-up
 * around the runner and loop.c's tick. Logs go to stderr, one line per event. */
#include <ftw.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli_int.h"
#include "dagfile/dagfile.h"
#include "loop/loop.h"
#include "progress/progress.h"
#include "runner/runner.h"
#include "schedule/timetable.h"
#include "store/store.h"

/* ---- the folder fingerprint (FNV-1a over path, size, mtime of every DAG file) ---- */

static unsigned long long fp_acc;

static void
fp_mix(const void *p, size_t n)
{
    const unsigned char *b = p;

    for (size_t i = 0; i < n; i++) {
        fp_acc ^= b[i];
        fp_acc *= 1099511628211ULL;
    }
}

static int
fp_visit(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    size_t len = strlen(path);

    (void)ftw;
    if (type != FTW_F || !((len > 5 && strcmp(path + len - 5, ".yaml") == 0) ||
                           (len > 4 && strcmp(path + len - 4, ".yml") == 0)))
        return 0;
    fp_mix(path, len);
    fp_mix(&st->st_size, sizeof(st->st_size));
    fp_mix(&st->st_mtim, sizeof(st->st_mtim));
    return 0;
}

unsigned long long
loop_folder_fingerprint(const char *folder)
{
    /* nftw visits in directory order, which is stable for an unchanged folder */
    fp_acc = 14695981039346656037ULL;
    if (nftw(folder, fp_visit, 16, FTW_PHYS) != 0)
        return 0;
    return fp_acc ? fp_acc : 1;
}

/* ---- shared set-up ---- */

static void
log_event(void *arg, const struct runner_event *ev)
{
    (void)arg;
    if (ev->task_id == NULL)
        fprintf(stderr, "gust: dag=%s run=%s -> %s\n", ev->dag_id, ev->run_id,
                run_state_name(ev->run_state));
    else if (ev->ti_state != TI_SCHEDULED && ev->ti_state != TI_QUEUED)
        fprintf(stderr, "gust: dag=%s run=%s task=%s try=%d -> %s%s%s\n", ev->dag_id, ev->run_id,
                ev->task_id, ev->try_number, ti_state_name(ev->ti_state), ev->detail ? ": " : "",
                ev->detail ? ev->detail : "");
}

static int
serve(struct loop_ctx *c, struct runner_opts *o)
{
    struct dagbag *bag = NULL;
    struct runner *r = NULL;
    struct err e = {0};
    int rc = EXIT_FAIL;

    if ((c->store = cli_open_store()) == NULL || (bag = cli_load_bag(c->folder)) == NULL)
        goto out;
    gethostname(c->hostname, sizeof(c->hostname) - 1);
    c->logs_folder = getenv("GUST_LOGS_FOLDER") ? getenv("GUST_LOGS_FOLDER") : "./logs";
    c->lease_seconds = getenv("GUST_LEASE_SECONDS") && atof(getenv("GUST_LEASE_SECONDS")) > 0
                           ? atof(getenv("GUST_LEASE_SECONDS"))
                           : 30;
    c->scan_interval = getenv("GUST_DAG_DIR_LIST_INTERVAL")
                           ? (time_t)atol(getenv("GUST_DAG_DIR_LIST_INTERVAL"))
                           : 30;
    if (c->scan_interval < 1)
        c->scan_interval = 1;
    o->on_event = log_event;
    o->tick = loop_tick;
    o->tick_arg = c;
    o->lease_seconds = c->lease_seconds;
    if ((r = runner_new(c->store, bag, o, &e)) == NULL) {
        fprintf(stderr, "gust: %s\n", e.msg);
        goto out;
    }
    fprintf(stderr, "gust: %s started (pid %d, DAG folder %s, %s)\n",
            c->mode == RUNNER_SCHEDULER ? "scheduler" : "worker", (int)getpid(), c->folder,
            store_where(c->store));
    if (runner_run(r, &e) < 0)
        fprintf(stderr, "gust: %s\n", e.msg);
    else
        rc = EXIT_OK;
    fprintf(stderr, "gust: %s stopped\n", c->mode == RUNNER_SCHEDULER ? "scheduler" : "worker");
out:
    runner_free(r);
    dagbag_free(bag); /* the first bag is borrowed by the runner; later ones it owned */
    store_free(c->store);
    return rc;
}

static const char scheduler_usage[] =
    "usage: gust scheduler [--no-executor] [--num-runs N] [--once] [--data-intervals]\n"
    "                      [-S DAG_FOLDER]\n"
    "Create scheduled runs, plan every run and (unless --no-executor) run their tasks. Runs\n"
    "until SIGTERM/SIGINT: then no new work starts, running tries get 30 s to finish and are\n"
    "stopped after that (their retries run later). SIGHUP reloads the DAG folder (it is also\n"
    "checked every $GUST_DAG_DIR_LIST_INTERVAL seconds, default 30).\n"
    "  --no-executor     leave every task to `gust worker` processes\n"
    "  --num-runs N      stop after N scheduling loops (Airflow's meaning)\n"
    "  --once            stop when no run is active and none is due\n"
    "  --data-intervals  Airflow 2 schedules: a run covers [tick, next tick) and starts at its\n"
    "                    end (default: Airflow 3, a run's logical date is its trigger time;\n"
    "                    also $GUST_SCHEDULE_SEMANTICS=airflow2)\n";

int
cmd_scheduler(int argc, char **argv)
{
    static const struct option opts[] = {{"no-executor", no_argument, NULL, 'x'},
                                         {"num-runs", required_argument, NULL, 'n'},
                                         {"once", no_argument, NULL, '1'},
                                         {"data-intervals", no_argument, NULL, 'i'},
                                         {"subdir", required_argument, NULL, 'S'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    struct loop_ctx c = {.mode = RUNNER_SCHEDULER, .folder = cli_dags_folder()};
    struct runner_opts o = {.mode = RUNNER_SCHEDULER};
    int ch;

    if (timetable_semantics_parse(getenv("GUST_SCHEDULE_SEMANTICS"), &c.sem) < 0) {
        fprintf(stderr, "gust: GUST_SCHEDULE_SEMANTICS must be airflow2 or airflow3\n");
        return EXIT_USAGE;
    }
    optind = 1;
    while ((ch = getopt_long(argc, argv, "n:S:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'x':
            o.no_executor = true;
            break;
        case 'n':
            c.num_runs = atoi(optarg);
            break;
        case '1':
            c.once = true;
            break;
        case 'i':
            c.sem = SEM_INTERVAL;
            break;
        case 'S':
            c.folder = optarg;
            break;
        case 'h':
            fputs(scheduler_usage, stdout);
            return EXIT_OK;
        default:
            return EXIT_USAGE;
        }
    }
    if (optind != argc || c.num_runs < 0) {
        fputs(scheduler_usage, stderr);
        return EXIT_USAGE;
    }
    return serve(&c, &o);
}

static const char worker_usage[] =
    "usage: gust worker [--concurrency N] [--queue Q] [-S DAG_FOLDER]\n"
    "Claim queued task instances (of the DAGs in the DAG folder) and run them, holding a\n"
    "lease on each running try. Any number of workers may run, on any machine.\n";

int
cmd_worker(int argc, char **argv)
{
    static const struct option opts[] = {{"concurrency", required_argument, NULL, 'c'},
                                         {"queue", required_argument, NULL, 'q'},
                                         {"subdir", required_argument, NULL, 'S'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    struct loop_ctx c = {.mode = RUNNER_WORKER, .folder = cli_dags_folder()};
    struct runner_opts o = {.mode = RUNNER_WORKER};
    int ch;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:q:S:h", opts, NULL)) != -1) {
        if (ch == 'c')
            o.parallelism = atoi(optarg);
        else if (ch == 'q')
            o.queue = optarg;
        else if (ch == 'S')
            c.folder = optarg;
        else if (ch == 'h')
            return fputs(worker_usage, stdout), EXIT_OK;
        else
            return EXIT_USAGE;
    }
    if (optind != argc) {
        fputs(worker_usage, stderr);
        return EXIT_USAGE;
    }
    return serve(&c, &o);
}

int
cmd_jobs_check(int argc, char **argv)
{
    static const struct option opts[] = {{"job-type", required_argument, NULL, 't'},
                                         {"max-age", required_argument, NULL, 'a'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    const char *type = NULL;
    double max_age = 60;
    struct store *s;
    struct err e = {0};
    int ch, alive = 0;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "t:a:h", opts, NULL)) != -1) {
        if (ch == 't')
            type = strcmp(optarg, "scheduler") == 0 || strcmp(optarg, "SchedulerJob") == 0
                       ? "SchedulerJob"
                   : strcmp(optarg, "worker") == 0 || strcmp(optarg, "WorkerJob") == 0 ? "WorkerJob"
                                                                                       : "?";
        else if (ch == 'a')
            max_age = atof(optarg);
        else if (ch == 'h')
            return printf("usage: gust jobs check [--job-type scheduler|worker] [--max-age "
                          "SECONDS]\nExit 0 when a job of that type heartbeat within "
                          "SECONDS (default 60): a liveness probe.\n"),
                   EXIT_OK;
        else
            return EXIT_USAGE;
    }
    if (optind != argc || (type && strcmp(type, "?") == 0) || max_age <= 0) {
        fprintf(stderr, "usage: gust jobs check [--job-type scheduler|worker] [--max-age S]\n");
        return EXIT_USAGE;
    }
    if ((s = cli_open_store()) == NULL)
        return EXIT_FAIL;
    if (store_jobs_alive(s, type, max_age, &alive, &e) < 0) {
        fprintf(stderr, "gust: %s\n", e.msg);
        store_free(s);
        return EXIT_FAIL;
    }
    store_free(s);
    if (alive == 0) {
        fprintf(stderr, "No alive %s job found.\n", type ? type : "");
        return EXIT_FAIL;
    }
    printf("Found %d alive %s job(s).\n", alive, type ? type : "");
    return EXIT_OK;
}
