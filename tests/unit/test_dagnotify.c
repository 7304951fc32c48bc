/* test_dagnotify: the notifier fields the runner reads (struct dag_notifier on tasks and
 * DAGs), as the loader fills them: kind, connection id, arguments JSON, the e-mail notifier's
 * place (last, on failure and retry), the DAG's own events, and an instance of a mapped task
 * (dag_task_bind) owning its own copy. The dump of the same fields is checked by the
 * data-driven cases (tests/dags/valid/notifications). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dagfile/dagfile.h"

static const char yaml[] =
    "d:\n"
    "  on_failure_callback:\n"
    "    callback: airflow.providers.http.notifications.HttpNotifier\n"
    "    json: {run: '{{ run_id }}'}\n"
    "  default_args:\n"
    "    email: a@example.com, b@example.com\n"
    "    on_failure_callback:\n"
    "      - callback: airflow.providers.slack.notifications.slack_webhook."
    "SlackWebhookNotifier\n"
    "        text: '{{ ti.task_id }} failed'\n"
    "  tasks:\n"
    "    m:\n"
    "      operator: airflow.operators.bash.BashOperator\n"
    "      bash_command: echo $X\n"
    "      expand: {env: [{X: '1'}, {X: '2'}]}\n"
    "      email_on_retry: false\n"
    "      on_execute_callback:\n"
    "        callback: airflow.providers.smtp.notifications.smtp.send_smtp_notification\n"
    "        smtp_conn_id: smtp_ops\n"
    "        to: ops@example.com\n";

static struct dagbag *
load(void)
{
    struct dagbag *bag = dagbag_new();

    assert_int_equal(dagbag_load_string(bag, "n.yaml", yaml, strlen(yaml)), 0);
    assert_int_equal(bag->n_dags, 1);
    return bag;
}

static void
task_notifiers(void **state)
{
    struct dagbag *bag = load();
    const struct dag_task *t = dag_find_task(bag->dags[0], "m");
    const struct dag_notifiers *fail = &t->on[NOTIFY_ON_FAILURE];

    (void)state;
    assert_int_equal(fail->n, 2);
    assert_int_equal(fail->v[0].kind, NOTIFY_SLACK_WEBHOOK);
    assert_string_equal(fail->v[0].conn_id, "slack_default");
    assert_string_equal(fail->v[0].args_json, "{\"text\":\"{{ ti.task_id }} failed\"}");
    assert_false(fail->v[0].email_default);
    assert_int_equal(fail->v[0].line, 8);
    /* e-mail: last, SMTP through smtp_default, Airflow's subject; not on retry (turned off) */
    assert_int_equal(fail->v[1].kind, NOTIFY_SMTP);
    assert_true(fail->v[1].email_default);
    assert_string_equal(fail->v[1].callback, "email");
    assert_string_equal(fail->v[1].conn_id, "smtp_default");
    assert_non_null(strstr(fail->v[1].args_json,
                           "\"to\":[\"a@example.com\",\"b@example.com\"],\"subject\":\"Airflow "
                           "alert: <TaskInstance: {{ ti.dag_id }}.{{ ti.task_id }}"));
    assert_int_equal(t->on[NOTIFY_ON_RETRY].n, 0);
    assert_int_equal(t->on[NOTIFY_ON_EXECUTE].n, 1);
    assert_string_equal(t->on[NOTIFY_ON_EXECUTE].v[0].conn_id, "smtp_ops");
    assert_string_equal(t->on[NOTIFY_ON_EXECUTE].v[0].args_json, "{\"to\":\"ops@example.com\"}");
    assert_int_equal(t->on[NOTIFY_ON_SUCCESS].n + t->on[NOTIFY_ON_SKIPPED].n, 0);
    dagbag_free(bag);
}

static void
dag_notifiers(void **state)
{
    struct dagbag *bag = load();
    const struct dag *d = bag->dags[0];

    (void)state;
    assert_int_equal(d->on[NOTIFY_ON_FAILURE].n, 1);
    assert_int_equal(d->on[NOTIFY_ON_FAILURE].v[0].kind, NOTIFY_HTTP);
    assert_string_equal(d->on[NOTIFY_ON_FAILURE].v[0].conn_id, "http_default");
    assert_string_equal(d->on[NOTIFY_ON_FAILURE].v[0].args_json,
                        "{\"json\":{\"run\":\"{{ run_id }}\"}}");
    for (int ev = 0; ev < NOTIFY_EVENTS; ev++)
        if (ev != NOTIFY_ON_FAILURE)
            assert_int_equal(d->on[ev].n, 0);
    assert_string_equal(notify_event_key(NOTIFY_ON_FAILURE), "on_failure_callback");
    dagbag_free(bag);
}

/* An instance of a mapped task has its own notifiers: freeing it leaves the DAG's intact. */
static void
bound_instance_copies(void **state)
{
    struct dagbag *bag = load();
    const struct dag_task *t = dag_find_task(bag->dags[0], "m");
    json_t *values = json_pack("{s:{s:s}}", "env", "X", "2");
    struct dag_task inst;
    struct err e = {0};

    (void)state;
    assert_int_equal(dag_task_bind(t, values, &inst, &e), 0);
    assert_int_equal(inst.on[NOTIFY_ON_FAILURE].n, 2);
    assert_ptr_not_equal(inst.on[NOTIFY_ON_FAILURE].v, t->on[NOTIFY_ON_FAILURE].v);
    assert_ptr_not_equal(inst.on[NOTIFY_ON_FAILURE].v[0].args_json,
                         t->on[NOTIFY_ON_FAILURE].v[0].args_json);
    assert_string_equal(inst.on[NOTIFY_ON_FAILURE].v[0].args_json,
                        t->on[NOTIFY_ON_FAILURE].v[0].args_json);
    dag_task_clear(&inst);
    assert_string_equal(t->on[NOTIFY_ON_EXECUTE].v[0].conn_id, "smtp_ops");
    json_decref(values);
    dagbag_free(bag);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(task_notifiers),
        cmocka_unit_test(dag_notifiers),
        cmocka_unit_test(bound_instance_copies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
