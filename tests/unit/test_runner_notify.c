/* test_runner_notify: the runner's callbacks (scheduler/runner/runner_notify.c) against a real
 * PostgreSQL, with runs driven by the runner in RUNNER_LOCAL mode and the notifiers filled
 * into the loaded DAG by hand (what the loader makes of on_failure_callback...).
 *
 * notify_task is a stand-in written by this test into a folder of its own, first in PATH
 * (the runner puts only the folder of the running binary, build/tests, before it; the real
 * notify_task is built in bin/ and tested by test_notify_task.sh). The stand-in appends its
 * spec as one line to $NOTIFY_STANDIN_RECORD and acts on its text: "hang-please" sleeps,
 * "fail-please" exits 1 with a reason on stderr.
 *
 * Checked: each event fires once with its arguments rendered (ti.state, try number,
 * exception, reason); a callback_request row per notifier, success / failed with the
 * notifier's last line; a second insert for the same change is refused; a hanging callback is
 * cut at GUST_CALLBACK_TIMEOUT and the run's state is what its tasks made it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "dagfile/dagfile.h"
#include "runner/runner.h"
#include "store/store.h"

#define DB "gust_unit_runner_notify"
#include "pgtest.h"
#define T0 1700000000

static struct store *S;
static struct dagbag *BAG;
static char TMP[] = "/tmp/gust_notify.XXXXXX";
static char RECORD[300], LOGS[300];

static const char DAGS[] = "n1:\n"
                           "  default_args: {retries: 1, retry_delay: 0}\n"
                           "  tasks:\n"
                           "    - task_id: ok\n"
                           "      operator: airflow.operators.bash.BashOperator\n"
                           "      bash_command: echo fine\n"
                           "    - task_id: boom\n"
                           "      operator: airflow.operators.bash.BashOperator\n"
                           "      bash_command: echo going down; exit 3\n"
                           "      dependencies: [ok]\n"
                           "n2:\n"
                           "  tasks:\n"
                           "    - task_id: quiet\n"
                           "      operator: airflow.operators.bash.BashOperator\n"
                           "      bash_command: exit 99\n"
                           "    - task_id: last\n"
                           "      operator: airflow.operators.bash.BashOperator\n"
                           "      bash_command: 'true'\n"
                           "      trigger_rule: all_done\n"
                           "      dependencies: [quiet]\n";

static const char STANDIN[] =
    "#!/bin/sh\n"
    "# stand-in for notify_task (test_runner_notify.c): records its spec and acts on it\n"
    "[ \"$1\" = --spec ] || { echo 'usage: notify_task --spec FILE' >&2; exit 2; }\n"
    "tr -d '\\n' <\"$2\" >>\"$NOTIFY_STANDIN_RECORD\"; echo >>\"$NOTIFY_STANDIN_RECORD\"\n"
    "case $(cat \"$2\") in\n"
    "*hang-please*) exec sleep 60 ;;\n"
    "*fail-please*) echo 'http: 500 Internal Server Error: boom' >&2; exit 1 ;;\n"
    "esac\n"
    "echo 'stand-in: sent'\n";

/* ---- the notifiers, as the loader would make them ---- */

static struct dag *
dag_rw(const char *dag_id)
{
    return (struct dag *)dagbag_find(BAG, dag_id);
}

static struct dag_task *
task_rw(const char *dag_id, const char *task_id)
{
    return (struct dag_task *)dag_find_task(dagbag_find(BAG, dag_id), task_id);
}

static void
add_notifier(struct dag_notifiers *on, const char *args_json)
{
    on->v = realloc(on->v, (on->n + 1) * sizeof(*on->v));
    assert_non_null(on->v);
    on->v[on->n++] = (struct dag_notifier){
        .kind = NOTIFY_SLACK_WEBHOOK,
        .callback = strdup("airflow.providers.slack.notifications.slack_webhook."
                           "send_slack_webhook_notification"),
        .conn_id = strdup("slack_default"),
        .args_json = strdup(args_json)};
}

static void
clear_notifiers(struct dag_notifiers *on)
{
    for (size_t i = 0; i < on->n; i++) {
        free(on->v[i].callback);
        free(on->v[i].conn_id);
        free(on->v[i].args_json);
    }
    free(on->v);
    on->v = NULL;
    on->n = 0;
}

static void
clear_all(void)
{
    for (size_t d = 0; BAG && d < BAG->n_dags; d++) {
        struct dag *dag = (struct dag *)BAG->dags[d];
        for (int ev = 0; ev < NOTIFY_EVENTS; ev++) {
            clear_notifiers(&dag->on[ev]);
            for (size_t t = 0; t < dag->n_tasks; t++)
                clear_notifiers(&dag->tasks[t].on[ev]);
        }
    }
}

/* ---- harness ---- */

static int
group_setup(void **state)
{
    char path[400];
    FILE *f;
    struct err e = {0};

    (void)state;
    BAG = dagbag_new();
    if (dagbag_load_string(BAG, "dags/n.yaml", DAGS, strlen(DAGS)) != 0 || !mkdtemp(TMP))
        return -1;
    snprintf(path, sizeof(path), "%s/standin", TMP);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/standin/notify_task", TMP);
    if ((f = fopen(path, "w")) == NULL || fputs(STANDIN, f) < 0 || fclose(f) != 0 ||
        chmod(path, 0755) != 0)
        return -1;
    snprintf(path, sizeof(path), "%s/standin:%s", TMP, getenv("PATH") ? getenv("PATH") : "");
    setenv("PATH", path, 1);
    snprintf(RECORD, sizeof(RECORD), "%s/record.jsonl", TMP);
    snprintf(LOGS, sizeof(LOGS), "%s/logs", TMP);
    setenv("NOTIFY_STANDIN_RECORD", RECORD, 1);
    if (getenv("PGHOST") == NULL)
        return 0;
    if (pgtest_recreate_db() != 0)
        return -1;
    if ((S = store_open("dbname=" DB, &e)) == NULL || store_migrate(S, NULL, &e) != 0 ||
        store_sync_dagbag(S, BAG, NULL, T0, &e) != 0) {
        fprintf(stderr, "setup: %s\n", e.msg);
        return -1;
    }
    return 0;
}

static int
group_teardown(void **state)
{
    char *rm[] = {"rm", "-rf", TMP, NULL};

    (void)state;
    clear_all();
    store_free(S);
    dagbag_free(BAG);
    spawn(rm);
    return 0;
}

static int
setup(void **state)
{
    (void)state;
    clear_all();
    unlink(RECORD);
    unsetenv("GUST_CALLBACK_TIMEOUT");
    return 0;
}

/* Create run run_id of dag_id and drive it to its end; its final state. */
static enum run_state
drive(const char *dag_id, const char *run_id)
{
    struct runner_opts o = {.mode = RUNNER_LOCAL, .logs_folder = LOGS, .parallelism = 4};
    struct err e = {0};
    long long id;
    struct runner *r;
    enum run_state st;
    static time_t day = T0;

    day += 86400; /* one run per logical date */
    if (store_run_create(S, dagbag_find(BAG, dag_id), run_id, "manual", day, day, day, "{}", "test",
                         T0, &id, &e) != 0)
        fail_msg("create run %s: %s", run_id, e.msg);
    r = runner_new(S, BAG, &o, &e);
    assert_non_null(r);
    assert_int_equal(runner_add(r, dag_id, run_id, &e), 0);
    if (runner_run(r, &e) < 0)
        fail_msg("run %s: %s", run_id, e.msg);
    st = runner_run_state(r, dag_id, run_id);
    runner_free(r);
    return st;
}

/* The stand-in's record (empty when a real notify_task ran). */
static char *
record(void)
{
    static char buf[65536];
    FILE *f = fopen(RECORD, "r");
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

    if (f)
        fclose(f);
    buf[n] = '\0';
    return buf;
}

static int
count_of(const char *hay, const char *needle)
{
    int n = 0;

    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* ---- tests ---- */

static void
test_events_once_rendered(void **state)
{
    const char *args = "{\"text\": \"{{ ti.dag_id }}.{{ ti.task_id }} {{ ti.state }} try "
                       "{{ ti.try_number }}/{{ ti.max_tries + 1 }}: {{ exception }}\"}";
    char *rec;

    (void)state;
    add_notifier(&task_rw("n1", "ok")->on[NOTIFY_ON_EXECUTE], args);
    add_notifier(&task_rw("n1", "ok")->on[NOTIFY_ON_SUCCESS], args);
    add_notifier(&task_rw("n1", "boom")->on[NOTIFY_ON_RETRY], args);
    add_notifier(&task_rw("n1", "boom")->on[NOTIFY_ON_FAILURE], args);
    add_notifier(&task_rw("n1", "boom")->on[NOTIFY_ON_FAILURE], "{\"text\": \"second\"}");
    add_notifier(&dag_rw("n1")->on[NOTIFY_ON_FAILURE],
                 "{\"text\": \"run {{ run_id }} of {{ dag.dag_id }}: {{ reason }}\"}");
    add_notifier(&dag_rw("n1")->on[NOTIFY_ON_SUCCESS], "{\"text\": \"never\"}");
    assert_int_equal(drive("n1", "r1"), RUN_FAILED);
    /* the run's own row: try_number is the run's clear_number (0: never cleared) */
    assert_string_equal(query("select event, notifier, try_number, state from callback_request "
                              "where run_id = 'r1' order by id"),
                        "on_execute_callback|0|1|success|on_success_callback|0|1|success|"
                        "on_retry_callback|0|1|success|on_failure_callback|0|2|success|"
                        "on_failure_callback|1|2|success|on_failure_callback|0|0|success");
    rec = record();
    assert_string_equal(query("select distinct message from callback_request where run_id = 'r1'"),
                        "stand-in: sent");
    assert_int_equal(count_of(rec, "\"callback\""), 6);
    assert_non_null(strstr(rec, "\"text\": \"n1.ok running try 1/2: None\""));
    assert_non_null(strstr(rec, "\"text\": \"n1.ok success try 1/2: None\""));
    assert_non_null(strstr(rec, "\"text\": \"n1.boom up_for_retry try 1/2: exit 3\""));
    assert_non_null(strstr(rec, "\"text\": \"n1.boom failed try 2/2: exit 3\""));
    assert_non_null(strstr(rec, "\"text\": \"run r1 of n1: task_failure\""));
    assert_non_null(strstr(rec, "\"kind\": \"slack_webhook\""));
    assert_non_null(strstr(rec, "\"conn_id\": \"slack_default\""));
    assert_null(strstr(rec, "never"));
}

static void
test_skipped_and_success(void **state)
{
    (void)state;
    add_notifier(&task_rw("n2", "quiet")->on[NOTIFY_ON_SKIPPED],
                 "{\"text\": \"{{ ti.task_id }} {{ ti.state }}\"}");
    add_notifier(&task_rw("n2", "quiet")->on[NOTIFY_ON_FAILURE], "{\"text\": \"never\"}");
    add_notifier(&dag_rw("n2")->on[NOTIFY_ON_SUCCESS], "{\"text\": \"{{ reason }}\"}");
    assert_int_equal(drive("n2", "s1"), RUN_SUCCESS);
    assert_string_equal(query("select task_id, event, state from callback_request where "
                              "run_id = 's1' order by id"),
                        "quiet|on_skipped_callback|success||on_success_callback|success");
    assert_non_null(strstr(record(), "\"text\": \"quiet skipped\""));
    assert_non_null(strstr(record(), "\"text\": \"success\""));
}

static void
test_failing_and_hanging(void **state)
{
    (void)state;
    setenv("GUST_CALLBACK_TIMEOUT", "1", 1);
    add_notifier(&task_rw("n2", "quiet")->on[NOTIFY_ON_SKIPPED], "{\"text\": \"fail-please\"}");
    add_notifier(&task_rw("n2", "last")->on[NOTIFY_ON_EXECUTE], "{\"text\": \"hang-please\"}");
    add_notifier(&dag_rw("n2")->on[NOTIFY_ON_SUCCESS], "{\"text\": \"hang-please\"}");
    assert_int_equal(drive("n2", "h1"), RUN_SUCCESS);
    assert_string_equal(query("select string_agg(state, ',' order by task_id) from "
                              "task_instance where run_id = 'h1'"),
                        "success,skipped");
    assert_string_equal(query("select task_id, state, message from callback_request where "
                              "run_id = 'h1' order by id"),
                        "quiet|failed|http: 500 Internal Server Error: boom|"
                        "last|failed|timed out after 1 s||failed|timed out after 1 s");
    assert_string_equal(query("select count(*) from callback_request where run_id = 'h1' and "
                              "ended_at is not null"),
                        "3");
}

/* dagrun_timeout: the process that failed the run runs the DAG's on_failure, reason timed_out */
static void
test_timed_out(void **state)
{
    struct runner_opts o = {.mode = RUNNER_LOCAL, .logs_folder = LOGS};
    struct dag *dag = dag_rw("n2");
    struct err e = {0};
    struct runner *r;
    long long id;
    int n = -1;

    (void)state;
    add_notifier(&dag->on[NOTIFY_ON_FAILURE], "{\"text\": \"{{ run_id }}: {{ reason }}\"}");
    dag->dagrun_timeout = 60;
    assert_int_equal(
        store_run_create(S, dag, "t1", "manual", T0 - 86400, T0, T0, "{}", "test", T0, &id, &e), 0);
    assert_int_equal(store_run_set_state(S, "n2", "t1", RUN_QUEUED, RUN_RUNNING, T0, &e), 1);
    assert_non_null(r = runner_new(S, BAG, &o, &e));
    assert_int_equal(runner_time_out_runs(r, dag, T0 + 30, &n, &e), 0);
    assert_int_equal(n, 0); /* not yet */
    assert_int_equal(runner_time_out_runs(r, dag, T0 + 61, &n, &e), 0);
    assert_int_equal(n, 1);
    assert_int_equal(runner_run(r, &e), 0); /* until its callback ended */
    runner_free(r);
    dag->dagrun_timeout = -1;
    assert_string_equal(query("select r.state, c.task_id, c.event, c.state from dag_run r join "
                              "callback_request c using (dag_id, run_id) where run_id = 't1'"),
                        "failed||on_failure_callback|success");
    assert_non_null(strstr(record(), "\"text\": \"t1: timed_out\""));
}

static void
test_at_most_once(void **state)
{
    struct store_callback cb = {"n1", "r1", "boom", -1, 9, "on_failure_callback", 0, "x", "h"};
    long long id = -1, id2 = -1;
    struct err e = {0};

    (void)state;
    assert_int_equal(store_callback_begin(S, &cb, &id, &e), 1);
    assert_true(id > 0);
    assert_int_equal(store_callback_begin(S, &cb, &id2, &e), 0);
    assert_int_equal(id2, 0);
    cb.notifier = 1; /* another notifier of the same change */
    assert_int_equal(store_callback_begin(S, &cb, &id2, &e), 1);
    assert_int_equal(store_callback_end(S, id, false, "nope", &e), 0);
    assert_int_equal(store_callback_end(S, id, true, "again", &e), 0); /* ended once */
    assert_string_equal(query("select state, message from callback_request where try_number = 9 "
                              "and notifier = 0"),
                        "failed|nope");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_events_once_rendered, setup),
        cmocka_unit_test_setup(test_skipped_and_success, setup),
        cmocka_unit_test_setup(test_failing_and_hanging, setup),
        cmocka_unit_test_setup(test_timed_out, setup),
        cmocka_unit_test_setup(test_at_most_once, setup),
    };

    return pgtest_run_group_tests(tests, setup, group_setup, group_teardown);
}
