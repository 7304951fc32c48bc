/* store_map: dynamic task mapping in the store (docs/dag-files.md, "Dynamic task mapping"): the
 * expansion of a mapped task into its instances, and their names. Same rules as store_run.c:
 * parameters only, every change guarded by the state it expects, nothing printed.
 *
 * An expansion is one transaction that locks the task's rows first, so two schedulers that
 * decide to expand the same task at once serialize: the second finds no instance in state
 * none any more and does nothing (Airflow relies on its scheduler's row locks the same way). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

#define KEY "dag_id = $1 AND run_id = $2 AND task_id = $3"

/* $4 n > 0: the -1 row becomes index 0 (or goes, when an index 0 exists: a cleared mapped
 * task), the missing indexes are copied from the lowest existing row (pool, queue, operator...
 * with the retries it was given), indexes >= n are removed, and none instances scheduled. */
static int
expand_rows(struct store *s, const char *const *p, struct err *e)
{
    static const char *const sql[] = {
        "DELETE FROM task_instance WHERE " KEY " AND map_index = -1 AND EXISTS (SELECT 1 FROM "
        "task_instance t WHERE t.dag_id = $1 AND t.run_id = $2 AND t.task_id = $3 AND "
        "t.map_index = 0) AND $4::int > 0",
        "UPDATE task_instance SET map_index = 0, updated_at = now() WHERE " KEY
        " AND map_index = -1 AND $4::int > 0",
        "INSERT INTO task_instance (task_id, dag_id, run_id, map_index, state, try_number, "
        "max_tries, pool, pool_slots, queue, priority_weight, operator, trigger_rule, "
        "max_active_tis_per_dag, max_active_tis_per_dagrun) "
        "SELECT t.task_id, t.dag_id, t.run_id, g.i, NULL, 0, greatest(t.max_tries - "
        "t.try_number, 0), t.pool, t.pool_slots, t.queue, t.priority_weight, t.operator, "
        "t.trigger_rule, t.max_active_tis_per_dag, t.max_active_tis_per_dagrun FROM (SELECT * FROM "
        "task_instance WHERE " KEY
        " ORDER BY map_index LIMIT 1) t, generate_series(0, $4::int - 1) AS g(i) "
        "ON CONFLICT (dag_id, task_id, run_id, map_index) DO NOTHING",
        "UPDATE task_instance SET state = CASE WHEN map_index >= $4::int THEN 'removed' ELSE "
        "'scheduled' END, lease_until = NULL, updated_at = now() WHERE " KEY
        " AND ((map_index >= $4::int AND state IS DISTINCT FROM 'removed') OR "
        "(map_index < $4::int AND state IS NULL))",
    };

    for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++)
        if (store_exec_cmd(s, e, sql[i], 4, p) != 0)
            return -1;
    return 0;
}

/* n == 0 (skipped) or fail_msg (failed, $5): the instances in state none end now; an expansion
 * to nothing also removes the instances of an earlier, longer one. */
static int
end_rows(struct store *s, const char *const *p, bool failed, struct err *e)
{
    return store_exec_cmd(
        s, e,
        "UPDATE task_instance SET state = CASE WHEN state IS NULL THEN $5::text ELSE "
        "'removed' END, start_date = coalesce(start_date, now()), end_date = now(), "
        "lease_until = NULL, updated_at = now() WHERE " KEY
        " AND $4::int = 0 AND (state IS NULL OR ($5::text = 'skipped' AND map_index >= 0 AND "
        "state IS DISTINCT FROM 'removed'))",
        5, (const char *const[]){p[0], p[1], p[2], p[3], failed ? "failed" : "skipped"});
}

int
store_ti_expand(struct store *s, const char *dag_id, const char *run_id, const char *task_id, int n,
                const char *fail_msg, struct err *e)
{
    struct pbuf b;
    const char *p[] = {dag_id, run_id, task_id, p_int(&b, n)};
    char extra[1200];
    int todo = 0, rc;

    /* lazy (store_int.h): a lost expansion is planned again; a claim's commit makes it durable */
    if (store_begin_lazy(s, e) != 0)
        return err_prefix(e, "expand %s %s %s", dag_id, run_id, task_id);
    rc = store_exec_int(s, e,
                        "SELECT count(*) FILTER (WHERE state IS NULL) FROM (SELECT state FROM "
                        "task_instance WHERE " KEY " FOR UPDATE) t",
                        3, p, &todo);
    if (rc == 0 && todo > 0) {
        if (fail_msg != NULL || n == 0)
            rc = end_rows(s, p, fail_msg != NULL, e);
        else
            rc = expand_rows(s, p, e);
        if (fail_msg != NULL)
            snprintf(extra, sizeof(extra), "failed: %s", fail_msg);
        else
            snprintf(extra, sizeof(extra), "map_length=%d", n);
        if (rc == 0)
            rc = store_log_row(s, "expand", dag_id, task_id, run_id, NULL, extra, 0, e);
        if (rc == 0)
            rc = store_exec_cmd(s, e, "SELECT pg_notify('gust', 'queued:' || $1)", 1, p);
    }
    if (store_end_tx(s, rc, e) < 0)
        return err_prefix(e, "expand %s %s %s", dag_id, run_id, task_id);
    return todo > 0;
}

int
store_ti_set_map_name(struct store *s, const char *dag_id, const char *run_id, const char *task_id,
                      int map_index, const char *name, struct err *e)
{
    struct pbuf m;
    const char *p[] = {dag_id, run_id, task_id, p_int(&m, map_index), name};

    /* lazy: a name only helps people read the CLI's tables */
    PGresult *res = store_exec_lazy(s, e,
                                    "UPDATE task_instance SET rendered_map_index = left($5, 250) "
                                    "WHERE " KEY " AND map_index = $4::int",
                                    5, p);

    PQclear(res);
    return res ? 0 : err_prefix(e, "name %s %s %s[%d]", dag_id, run_id, task_id, map_index);
}
