/* store_sensor: a sensor's pokes (docs/dag-files.md, "Sensors"). A poke that finds its
 * condition unmet in reschedule mode leaves the task instance in up_for_reschedule with the
 * time of its next poke (reschedule_date), the time of its first poke (first_poke: the base of
 * its timeout, kept across reschedules, retries and scheduler restarts) and one
 * task_reschedule row, Airflow's record of each reschedule. Like every state change, one
 * conditional statement: a poke that lost its race records nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

/* $1-$3 key, $4 try (the running one: fenced as store_ti_finish), $5 start, $6 end, $7 next
 * poke, $8 map_index. The try number goes back down: a reschedule is not a new try (Airflow),
 * the next claim brings it back to the same number. */
static const char RESCHEDULE_TRY_SQL[] =
    "WITH u AS (UPDATE task_instance SET state = 'up_for_reschedule', "
    "try_number = try_number - 1, reschedule_date = to_timestamp($7::float8), "
    "first_poke = coalesce(first_poke, to_timestamp($5::float8)), poke_count = poke_count + 1, "
    "end_date = to_timestamp($6::float8), duration = $6::float8 - $5::float8, exit_code = NULL, "
    "term_signal = NULL, lease_until = NULL, pid = NULL, updated_at = now() "
    "WHERE " TI_KEY(
        "8") " AND state IS NOT DISTINCT FROM 'running' AND try_number = $4::int "
             "RETURNING dag_id, run_id, task_id, map_index, try_number + 1 AS try_number, "
             "pg_notify('gust', 'finished:' || $1 || chr(9) || $2 || chr(9) || $3 || chr(9) || "
             "$8::int)) "
             "INSERT INTO task_reschedule (dag_id, run_id, task_id, map_index, try_number, "
             "start_date, "
             "end_date, duration, reschedule_date) SELECT dag_id, run_id, task_id, map_index, "
             "try_number, "
             "to_timestamp($5::float8), to_timestamp($6::float8), greatest($6::float8 - "
             "$5::float8, 0), "
             "to_timestamp($7::float8) FROM u";

/* A poke the scheduler made itself: $4 the state the instance must still be in (NULL: none).
 * Not met: up_for_reschedule as above, the try number untouched. */
static const char RESCHEDULE_HERE_SQL[] =
    "WITH u AS (UPDATE task_instance SET state = 'up_for_reschedule', "
    "reschedule_date = to_timestamp($7::float8), "
    "first_poke = coalesce(first_poke, to_timestamp($5::float8)), poke_count = poke_count + 1, "
    "start_date = coalesce(start_date, to_timestamp($5::float8)), "
    "end_date = to_timestamp($6::float8), updated_at = now() "
    "WHERE " TI_KEY(
        "8") " AND state IS NOT DISTINCT FROM $4::text "
             "RETURNING dag_id, run_id, task_id, map_index, try_number + 1 AS try_number) "
             "INSERT INTO task_reschedule (dag_id, run_id, task_id, map_index, try_number, "
             "start_date, "
             "end_date, duration, reschedule_date) SELECT dag_id, run_id, task_id, map_index, "
             "try_number, "
             "to_timestamp($5::float8), to_timestamp($6::float8), greatest($6::float8 - "
             "$5::float8, 0), "
             "to_timestamp($7::float8) FROM u";

/* The scheduler's own poke ended the sensor ($9: success, failed or skipped): it counts as
 * the instance's try (its number goes up by one); it started at the first poke. */
static const char END_HERE_SQL[] =
    "UPDATE task_instance SET state = $9::text, try_number = try_number + 1, "
    "start_date = coalesce(first_poke, to_timestamp($5::float8)), "
    "end_date = to_timestamp($6::float8), "
    "duration = $6::float8 - extract(epoch FROM coalesce(first_poke, to_timestamp($5::float8))), "
    "first_poke = coalesce(first_poke, to_timestamp($5::float8)), poke_count = poke_count + 1, "
    "reschedule_date = NULL, next_retry_at = NULL, lease_until = NULL, hostname = $7, "
    "updated_at = now() WHERE " TI_KEY("8") " AND state IS NOT DISTINCT FROM $4::text "
                                            "RETURNING pg_notify('gust', 'finished:' || $1 || "
                                            "chr(9) || $2 || chr(9) || $3 || chr(9) || $8::int)";

int
store_ti_poked(struct store *s, const char *dag_id, const char *run_id, const char *task_id,
               int map_index, const struct store_poke *pk, struct err *e)
{
    struct pbuf b[5];
    const char *p[9] = {dag_id,
                        run_id,
                        task_id,
                        NULL,
                        p_ts(&b[1], pk->start),
                        p_ts(&b[2], pk->end),
                        p_ts(&b[3], pk->reschedule_at),
                        p_int(&b[4], map_index),
                        NULL};
    const char *sql = RESCHEDULE_HERE_SQL;
    int n = 8, won;

    if (pk->try_number > 0 && pk->to != TI_UP_FOR_RESCHEDULE)
        return err_set(e, ERR_USAGE, "poke %s: a try's end is store_ti_finish's", task_id);
    if (pk->try_number > 0) {
        p[3] = p_int(&b[0], pk->try_number);
        sql = RESCHEDULE_TRY_SQL;
    } else if (ti_db(pk->from, &p[3], e) != 0) {
        return -1;
    } else if (pk->to != TI_UP_FOR_RESCHEDULE) {
        if (pk->to != TI_SUCCESS && pk->to != TI_FAILED && pk->to != TI_SKIPPED)
            return err_set(e, ERR_USAGE, "poke %s: cannot end in state %s", task_id,
                           ti_state_name(pk->to));
        p[6] = pk->hostname;
        p[8] = ti_state_name(pk->to);
        sql = END_HERE_SQL;
        n = 9;
    }
    if ((won = store_exec_won(s, e, sql, n, p)) < 0)
        return err_prefix(e, "poke of %s %s %s", dag_id, run_id, task_id);
    return won;
}

int
store_pokes_count(struct store *s, const char *dag_id, const char *run_id, const char *task_id,
                  int map_index, int *n, struct err *e)
{
    struct pbuf b;
    const char *p[] = {dag_id, run_id, task_id, p_int(&b, map_index)};

    if (store_exec_int(s, e, "SELECT count(*) FROM task_reschedule WHERE " TI_KEY("4"), 4, p, n) !=
        0)
        return err_prefix(e, "reschedules of %s %s %s", dag_id, run_id, task_id);
    return 0;
}

int
store_ti_poke_info(struct store *s, const char *dag_id, const char *run_id, const char *task_id,
                   int map_index, double *first_poke, int *poke_count, int *try_number,
                   struct err *e)
{
    struct pbuf b;
    const char *p[] = {dag_id, run_id, task_id, p_int(&b, map_index)};
    PGresult *res = store_exec(s, e,
                               "SELECT extract(epoch FROM first_poke), poke_count, try_number "
                               "FROM task_instance WHERE " TI_KEY("4"),
                               4, p);

    *first_poke = 0, *poke_count = 0, *try_number = 0;
    if (res == NULL)
        return err_prefix(e, "poke of %s %s %s", dag_id, run_id, task_id);
    if (PQntuples(res) == 1) {
        *first_poke = PQgetisnull(res, 0, 0) ? 0 : atof(PQgetvalue(res, 0, 0));
        *poke_count = atoi(PQgetvalue(res, 0, 1));
        *try_number = atoi(PQgetvalue(res, 0, 2));
    }
    PQclear(res);
    return 0;
}

/* The states of the first column's rows, as names (NULL: none), into *states. */
static int
read_states(PGresult *res, char ***states, size_t *n, struct err *e)
{
    size_t k = (size_t)PQntuples(res);
    char **v = calloc(k + 1, sizeof(*v));

    if (v == NULL)
        return err_set(e, ERR_FAIL, "out of memory");
    for (size_t i = 0; i < k; i++)
        if (!PQgetisnull(res, (int)i, 0) && (v[i] = strdup(PQgetvalue(res, (int)i, 0))) == NULL) {
            store_states_free(v, i);
            return err_set(e, ERR_FAIL, "out of memory");
        }
    *states = v, *n = k;
    return 0;
}

void
store_states_free(char **states, size_t n)
{
    for (size_t i = 0; states && i < n; i++)
        free(states[i]);
    free(states);
}

int
store_external_states(struct store *s, const char *dag_id, time_t logical_date,
                      const char *task_ids_json, const char *group_id, char ***states, size_t *n,
                      struct err *e)
{
    struct pbuf b;
    const char *p[] = {dag_id, p_int(&b, (long long)logical_date), task_ids_json, group_id};
    PGresult *res;
    int rc;

    *states = NULL, *n = 0;
    if (task_ids_json == NULL && group_id == NULL)
        res = store_exec(s, e,
                         "SELECT state FROM dag_run WHERE dag_id = $1 AND "
                         "logical_date = to_timestamp($2::float8)",
                         2, p);
    else /* the removed instances of a mapped task are not part of the run any more */
        res = store_exec(s, e,
                         "SELECT t.state FROM task_instance t JOIN dag_run r ON r.dag_id = "
                         "t.dag_id AND r.run_id = t.run_id WHERE t.dag_id = $1 AND "
                         "r.logical_date = to_timestamp($2::float8) AND "
                         "t.state IS DISTINCT FROM 'removed' AND ($3::jsonb ? t.task_id OR "
                         "($4::text IS NOT NULL AND left(t.task_id, length($4::text) + 1) = "
                         "$4::text || '.'))",
                         4, p);
    if (res == NULL)
        return err_prefix(e, "the runs of %s", dag_id);
    rc = read_states(res, states, n, e);
    PQclear(res);
    return rc;
}
