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
