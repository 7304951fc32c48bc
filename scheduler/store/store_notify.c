/* store_notify: the record of the callbacks gust runs (callback_request, docs/operations.md,
 * "Notifications").
 *
 * Invariant: a notification is sent at most once per state change. Only the process whose
 * fenced update made the change inserts the row, and the row's unique key (the task instance
 * or run, the try number, the event and the notifier's position) turns a second insert for
 * the same change into a no-op that says "not yours": the caller runs the notifier only when
 * its insert added the row. Parameters only, nothing printed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

int
store_callback_begin(struct store *s, const struct store_callback *cb, long long *id, struct err *e)
{
    struct pbuf b[3];
    const char *p[] = {cb->dag_id,
                       cb->run_id,
                       cb->task_id ? cb->task_id : "",
                       p_int(&b[0], cb->map_index),
                       p_int(&b[1], cb->try_number),
                       cb->event,
                       p_int(&b[2], cb->notifier),
                       cb->callback,
                       cb->hostname};
    PGresult *res = store_exec(
        s, e,
        "INSERT INTO callback_request (dag_id, run_id, task_id, map_index, try_number, event, "
        "notifier, callback, hostname) VALUES ($1, $2, $3, $4::int, $5::int, $6, $7::int, $8, "
        "$9) ON CONFLICT ON CONSTRAINT callback_request_once DO NOTHING RETURNING id",
        9, p);
    int inserted;

    if (res == NULL)
        return err_prefix(e, "record the %s callback of %s %s", cb->event, cb->dag_id, cb->run_id);
    inserted = PQntuples(res) == 1;
    *id = inserted ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    PQclear(res);
    return inserted;
}

int
store_callback_end(struct store *s, long long id, bool ok, const char *message, struct err *e)
{
    struct pbuf b;
    const char *p[] = {p_int(&b, id), ok ? "success" : "failed", message};

    if (store_exec_cmd(s, e,
                       "UPDATE callback_request SET state = $2, ended_at = now(), message = $3 "
                       "WHERE id = $1::bigint AND state = 'running'",
                       3, p) != 0)
        return err_prefix(e, "record the end of callback %lld", id);
    return 0;
}

int
store_runs_timeout_ids(struct store *s, const char *dag_id, double timeout, time_t now,
                       char ***run_ids, size_t *n, struct err *e)
{
    struct pbuf b[2];
    const char *p[] = {dag_id, p_dbl(&b[0], timeout), p_int(&b[1], (long long)now)};
    PGresult *res;
    int rows;

    *run_ids = NULL;
    *n = 0;
    if (timeout < 0)
        return 0;
    res =
        store_exec(s, e,
                   "WITH r AS (UPDATE dag_run SET state = 'failed', "
                   "end_date = greatest(to_timestamp($3::float8), start_date), updated_at = now() "
                   "WHERE dag_id = $1 AND state = 'running' "
                   "AND start_date < to_timestamp($3::float8 - $2::float8) RETURNING run_id), "
                   "t AS (UPDATE task_instance SET state = 'skipped', lease_until = NULL, "
                   "updated_at = now() WHERE dag_id = $1 AND run_id IN (SELECT run_id FROM r) AND "
                   "(state IS NULL OR state IN ('scheduled', 'queued', "
                   "'up_for_retry', 'up_for_reschedule'))) "
                   "SELECT run_id, pg_notify('gust', 'run:' || $1) FROM r",
                   3, p);
    if (res == NULL)
        return err_prefix(e, "time out runs of %s", dag_id);
    rows = PQntuples(res);
    if (rows > 0 && (*run_ids = calloc((size_t)rows + 1, sizeof(**run_ids))) == NULL) {
        PQclear(res);
        return err_set(e, ERR_FAIL, "time out runs of %s: out of memory", dag_id);
    }
    for (int i = 0; i < rows; i++)
        if (((*run_ids)[(*n)++] = strdup(PQgetvalue(res, i, 0))) == NULL) {
            PQclear(res);
            store_strings_free(*run_ids, *n);
            *run_ids = NULL;
            *n = 0;
            return err_set(e, ERR_FAIL, "time out runs of %s: out of memory", dag_id);
        }
    PQclear(res);
    return 0;
}
