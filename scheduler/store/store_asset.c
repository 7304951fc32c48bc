/* store_asset: assets in PostgreSQL (docs/dag-files.md, "Assets"): the `asset` rows and the
 * reference tables written from the DAG files, the queue of pending consumer runs, the
 * creation of asset-triggered runs, events recorded from outside, and what the CLI and the
 * templates read. The events of a task's outlets are written by store_ti_finish itself
 * (STORE_ASSET_FINISH_CTES in store_int.h), in the statement that records its success.
 *
 * Key invariant: an asset-triggered run is created in the transaction that locks its DAG's
 * queue rows and deletes them, so each satisfied condition makes one run however many
 * schedulers race (the second waits for the lock and then finds no rows), and an update
 * that arrives meanwhile waits too and queues anew (its row is inserted after the delete).
 * Values travel as parameters only; JSON is built with jansson or by PostgreSQL. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dagfile/dagfile.h"
#include "runid.h"
#include "store_int.h"

/* ---- sync from the DAG files ---- */

/* Append the URIs of condition c to refs as {dag_id, uri, kind: "s"}. */
static void
cond_refs(const struct asset_cond *c, const char *dag_id, json_t *refs)
{
    if (c == NULL)
        return;
    if (c->kind == ASSET_COND_URI && c->uri) {
        json_array_append_new(
            refs, json_pack("{s:s, s:s, s:s}", "dag_id", dag_id, "uri", c->uri, "kind", "s"));
        return;
    }
    for (size_t i = 0; i < c->n_kids; i++)
        cond_refs(&c->kids[i], dag_id, refs);
}

/* Whether a is only a URI (name and group Airflow's defaults, no extra): a declaration with
 * more says more, so it wins over this one for the asset's row. */
static bool
bare_asset(const json_t *a)
{
    const char *uri = json_string_value(json_object_get(a, "uri"));
    const char *name = json_string_value(json_object_get(a, "name"));
    const char *group = json_string_value(json_object_get(a, "grp"));

    return (name == NULL || (uri && strcmp(name, uri) == 0)) &&
           (group == NULL || strcmp(group, "asset") == 0) && json_object_get(a, "extra") == NULL;
}

/* Add dag's assets to assets ({uri: {uri, name, grp, extra}}) and its references to refs. */
static int
dag_rows(const struct dag *dag, json_t *assets, json_t *refs)
{
    const struct dag_asset **all = NULL;
    size_t n = 0;

    if (dag_assets(dag, &all, &n) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        json_t *a = json_pack("{s:s, s:s?, s:s?}", "uri", all[i]->uri, "name", all[i]->name, "grp",
                              all[i]->group);
        json_t *old = json_object_get(assets, all[i]->uri);

        if (a && all[i]->extra_json)
            json_object_set_new(a, "extra", json_loads(all[i]->extra_json, 0, NULL));
        if (a && (old == NULL || (bare_asset(old) && !bare_asset(a))))
            json_object_set(assets, all[i]->uri, a);
        json_decref(a);
    }
    free(all);
    cond_refs(dag->asset_schedule, dag->dag_id, refs);
    for (size_t t = 0; t < dag->n_tasks; t++) {
        const struct dag_task *task = &dag->tasks[t];

        for (size_t k = 0; k < task->n_outlets + task->n_inlets; k++) {
            bool out = k < task->n_outlets;
            const char *uri = out ? task->outlets[k].uri : task->inlets[k - task->n_outlets].uri;
            json_array_append_new(refs, json_pack("{s:s, s:s, s:s, s:s}", "dag_id", dag->dag_id,
                                                  "uri", uri, "task_id", task->task_id, "kind",
                                                  out ? "o" : "i"));
        }
    }
    return 0;
}

/* The references of the bag's DAGs (and of inactive DAGs: none) that the files no longer
 * declare go, the new ones come. $1 the bag's DAG ids, $2 the references (JSON arrays). */
#define REF_ROWS                                                                                   \
    "FROM jsonb_to_recordset($2::jsonb) AS x(dag_id text, uri text, task_id text, kind text) "     \
    "JOIN asset a ON a.uri = x.uri "
#define REF_OLD                                                                                    \
    "(r.dag_id IN (SELECT jsonb_array_elements_text($1::jsonb)) OR r.dag_id IN (SELECT dag_id "    \
    "FROM dag WHERE NOT is_active)) AND NOT EXISTS (SELECT 1 " REF_ROWS

static const char *const sync_sql[] = {
    "DELETE FROM dag_schedule_asset_reference r WHERE " REF_OLD
    "WHERE x.kind = 's' AND x.dag_id = r.dag_id AND a.id = r.asset_id)",
    "INSERT INTO dag_schedule_asset_reference (asset_id, dag_id) SELECT DISTINCT a.id, "
    "x.dag_id " REF_ROWS "WHERE x.kind = 's' AND $1::jsonb IS NOT NULL ON CONFLICT DO NOTHING",
    "DELETE FROM task_outlet_asset_reference r WHERE " REF_OLD
    "WHERE x.kind = 'o' AND x.dag_id = r.dag_id AND x.task_id = r.task_id AND a.id = r.asset_id)",
    "INSERT INTO task_outlet_asset_reference (asset_id, dag_id, task_id) SELECT DISTINCT a.id, "
    "x.dag_id, x.task_id " REF_ROWS
    "WHERE x.kind = 'o' AND $1::jsonb IS NOT NULL ON CONFLICT DO NOTHING",
    "DELETE FROM task_inlet_asset_reference r WHERE " REF_OLD
    "WHERE x.kind = 'i' AND x.dag_id = r.dag_id AND x.task_id = r.task_id AND a.id = r.asset_id)",
    "INSERT INTO task_inlet_asset_reference (asset_id, dag_id, task_id) SELECT DISTINCT a.id, "
    "x.dag_id, x.task_id " REF_ROWS
    "WHERE x.kind = 'i' AND $1::jsonb IS NOT NULL ON CONFLICT DO NOTHING",
    /* a queue row whose DAG is no longer scheduled on the asset would never be consumed */
    "DELETE FROM asset_dag_run_queue q WHERE $1::jsonb IS NOT NULL AND $2::jsonb IS NOT NULL "
    "AND NOT EXISTS (SELECT 1 FROM dag_schedule_asset_reference r WHERE r.asset_id = "
    "q.asset_id AND r.dag_id = q.target_dag_id)",
};

/* Upsert the assets (a JSON object uri -> row), in URI order (no deadlock between loads). */
static int
upsert_assets(struct store *s, json_t *assets, struct err *e)
{
    json_t *rows = json_array();
    const char *uri;
    json_t *a;
    char *text;
    int rc;

    json_object_foreach(assets, uri, a) json_array_append(rows, a);
    text = json_dumps(rows, JSON_COMPACT);
    json_decref(rows);
    if (text == NULL)
        return err_set(e, ERR_FAIL, "assets: out of memory or bad UTF-8");
    const char *p[] = {text};
    rc = store_exec_cmd(
        s, e,
        "INSERT INTO asset (uri, name, \"group\", extra) SELECT x.uri, coalesce(x.name, x.uri), "
        "coalesce(x.grp, 'asset'), coalesce(x.extra, '{}') FROM jsonb_to_recordset($1::jsonb) "
        "AS x(uri text, name text, grp text, extra jsonb) ORDER BY x.uri "
        "ON CONFLICT (uri) DO UPDATE SET name = EXCLUDED.name, \"group\" = EXCLUDED.\"group\", "
        "extra = EXCLUDED.extra, updated_at = now() WHERE (asset.name, asset.\"group\", "
        "asset.extra) IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.\"group\", EXCLUDED.extra)",
        1, p);
    free(text);
    return rc;
}

int
store_asset_sync(struct store *s, const struct dagbag *bag, struct err *e)
{
    json_t *assets = json_object(), *refs = json_array(), *ids = json_array();
    char *refs_text = NULL, *ids_text = NULL;
    int rc = -1;

    for (size_t i = 0; assets && refs && ids && i < bag->n_dags; i++) {
        json_array_append_new(ids, json_string(bag->dags[i]->dag_id));
        if (dag_rows(bag->dags[i], assets, refs) < 0) {
            err_set(e, ERR_FAIL, "dag %s: out of memory", bag->dags[i]->dag_id);
            goto out;
        }
    }
    refs_text = refs ? json_dumps(refs, JSON_COMPACT) : NULL;
    ids_text = ids ? json_dumps(ids, JSON_COMPACT) : NULL;
    if (assets == NULL || refs_text == NULL || ids_text == NULL) {
        err_set(e, ERR_FAIL, "out of memory or bad UTF-8");
        goto out;
    }
    if (upsert_assets(s, assets, e) != 0)
        goto out;
    const char *p[] = {ids_text, refs_text};
    for (size_t k = 0; k < sizeof(sync_sql) / sizeof(sync_sql[0]); k++)
        if (store_exec_cmd(s, e, sync_sql[k], 2, p) != 0)
            goto out;
    rc = 0;
out:
    if (rc < 0)
        err_prefix(e, "assets");
    json_decref(assets);
    json_decref(refs);
    json_decref(ids);
    free(refs_text);
    free(ids_text);
    return rc;
}

char *
store_asset_uris_param(const struct dag_asset *a, size_t n)
{
    size_t len = 3;
    char *out, *o;

    for (size_t i = 0; i < n; i++)
        len += 2 * strlen(a[i].uri) + 3;
    if ((out = o = malloc(len)) == NULL)
        return NULL;
    *o++ = '{';
    for (size_t i = 0; i < n; i++) {
        if (i)
            *o++ = ',';
        *o++ = '"';
        for (const char *c = a[i].uri; *c; c++) {
            if (*c == '"' || *c == '\\')
                *o++ = '\\';
            *o++ = *c;
        }
        *o++ = '"';
    }
    *o++ = '}';
    *o = '\0';
    return out;
}

/* ---- the queue and asset-triggered runs ---- */

void
store_asset_queues_free(struct store_asset_queue *q, size_t n)
{
    for (size_t i = 0; q && i < n; i++) {
        free(q[i].dag_id);
        store_strings_free(q[i].uris, q[i].n_uris);
    }
    free(q);
}

/* Append row i (dag_id, uri) of res to the list, a new entry when the DAG changes. */
static int
queue_add(struct store_asset_queue **q, size_t *n, const PGresult *res, int i)
{
    const char *dag = PQgetvalue(res, i, 0);
    struct store_asset_queue *cur = *n ? &(*q)[*n - 1] : NULL;
    char **uris;

    if (cur == NULL || strcmp(cur->dag_id, dag) != 0) {
        cur = &(*q)[(*n)++];
        if ((cur->dag_id = strdup(dag)) == NULL)
            return -1;
    }
    if ((uris = realloc(cur->uris, (cur->n_uris + 1) * sizeof(*uris))) == NULL)
        return -1;
    cur->uris = uris;
    return (uris[cur->n_uris++] = strdup(PQgetvalue(res, i, 1))) ? 0 : -1;
}

int
store_asset_queues(struct store *s, struct store_asset_queue **out, size_t *n, struct err *e)
{
    PGresult *res = store_exec(s, e,
                               "SELECT q.target_dag_id, a.uri FROM asset_dag_run_queue q "
                               "JOIN asset a ON a.id = q.asset_id JOIN dag d ON d.dag_id = "
                               "q.target_dag_id WHERE d.is_active AND NOT d.is_paused "
                               "ORDER BY 1, 2",
                               0, NULL);
    int rows, rc = 0;

    *out = NULL, *n = 0;
    if (res == NULL)
        return err_prefix(e, "read the asset queue");
    rows = PQntuples(res);
    if (rows > 0 && (*out = calloc((size_t)rows, sizeof(**out))) == NULL)
        rc = -1;
    for (int i = 0; rc == 0 && i < rows; i++)
        rc = queue_add(out, n, res, i);
    PQclear(res);
    if (rc < 0) {
        store_asset_queues_free(*out, *n);
        *out = NULL, *n = 0;
        return err_set(e, ERR_FAIL, "read the asset queue: out of memory");
    }
    return 0;
}

/* The locked queue rows of one DAG, for asset_cond_eval's pending(). */
struct locked {
    const PGresult *res;
};

static bool
locked_pending(const char *uri, void *arg)
{
    const struct locked *l = arg;

    for (int i = 0; i < PQntuples(l->res); i++)
        if (strcmp(PQgetvalue(l->res, i, 1), uri) == 0)
            return true;
    return false;
}

/* Inside the transaction: the run, named after now to the microsecond (a later microsecond
 * when another run of the DAG has that name). 1 created, -1 error. */
static int
create_run(struct store *s, const struct dag *dag, time_t now, char *run_id, size_t size,
           long long *id, struct err *e)
{
    time_t sec;
    long usec;

    runid_clock(&sec, &usec);
    for (int k = 0; k < 100; k++, usec++) {
        if (usec >= 1000000)
            sec++, usec = 0;
        runid_format("asset_triggered", sec, usec, run_id, size);
        int rc = store_run_insert(s, dag, run_id, "asset_triggered", sec, sec, sec, "{}", "asset",
                                  now, id, e);
        if (rc != 0)
            return rc;
    }
    return err_set(e, ERR_EXISTS, "no free run id after %s", run_id);
}

/* Inside the transaction: the events run id consumes, then the queue rows it took ($3, a
 * text[] of asset ids). The window starts a minute before the previous asset-triggered run
 * (whose logical date is its second), so an update committed while that run was being made
 * is not left out; the NOT EXISTS keeps any event from being consumed twice. */
static int
consume(struct store *s, const char *dag_id, long long run, const char *asset_ids, struct err *e)
{
    struct pbuf b;
    const char *p[] = {dag_id, p_int(&b, run), asset_ids};

    if (store_exec_cmd(
            s, e,
            "INSERT INTO dagrun_asset_event (dag_run_id, event_id) SELECT $2::bigint, ev.id "
            "FROM asset_event ev JOIN dag_schedule_asset_reference r ON r.asset_id = ev.asset_id "
            "AND r.dag_id = $1 WHERE $3::int[] IS NOT NULL AND ev.timestamp > coalesce((SELECT "
            "max(logical_date) FROM dag_run WHERE dag_id = $1 AND run_type = 'asset_triggered' "
            "AND id <> $2::bigint), '-infinity') - interval '1 minute' AND NOT EXISTS (SELECT 1 "
            "FROM dagrun_asset_event l JOIN dag_run p ON p.id = l.dag_run_id WHERE "
            "l.event_id = ev.id AND p.dag_id = $1) ON CONFLICT DO NOTHING",
            3, p) != 0)
        return -1;
    return store_exec_cmd(s, e,
                          "DELETE FROM asset_dag_run_queue WHERE target_dag_id = $1 AND "
                          "asset_id = ANY($3::int[]) AND $2::bigint IS NOT NULL",
                          3, p);
}

/* The asset ids of the locked rows as a text[] literal (column 0, integers). */
static char *
ids_param(const PGresult *res)
{
    size_t cap = 3 + (size_t)PQntuples(res) * 12, len = 0;
    char *out = malloc(cap);

    if (out == NULL)
        return NULL;
    out[len++] = '{';
    for (int i = 0; i < PQntuples(res); i++)
        len += (size_t)snprintf(out + len, cap - len, "%s%s", i ? "," : "", PQgetvalue(res, i, 0));
    snprintf(out + len, cap - len, "}");
    return out;
}

int
store_asset_trigger(struct store *s, const struct dag *dag, time_t now, char *run_id, size_t size,
                    long long *id, struct err *e)
{
    const char *p[] = {dag->dag_id};
    PGresult *res = NULL;
    struct locked l = {NULL};
    char *ids = NULL;
    long long run = 0;
    int rc = -1;

    if (dag->asset_schedule == NULL)
        return 0;
    if (store_exec_cmd(s, e, "BEGIN", 0, NULL) != 0)
        return err_prefix(e, "asset-triggered run of %s", dag->dag_id);
    res = store_exec(s, e,
                     "SELECT q.asset_id, a.uri FROM asset_dag_run_queue q JOIN asset a ON a.id = "
                     "q.asset_id JOIN dag d ON d.dag_id = q.target_dag_id WHERE q.target_dag_id "
                     "= $1 AND d.is_active AND NOT d.is_paused ORDER BY q.asset_id "
                     "FOR UPDATE OF q",
                     1, p);
    if (res == NULL)
        goto out;
    l.res = res;
    if (PQntuples(res) == 0 || !asset_cond_eval(dag->asset_schedule, locked_pending, &l)) {
        rc = 0;
        goto out;
    }
    if ((ids = ids_param(res)) == NULL) {
        err_set(e, ERR_FAIL, "out of memory");
        goto out;
    }
    if (create_run(s, dag, now, run_id, size, &run, e) == 1 &&
        consume(s, dag->dag_id, run, ids, e) == 0)
        rc = 1;
out:
    PQclear(res);
    free(ids);
    if (rc == 1 && id)
        *id = run;
    if (store_end_tx(s, rc, e) < 0)
        return err_prefix(e, "asset-triggered run of %s", dag->dag_id);
    return rc;
}

int
store_asset_queue_dag(struct store *s, const struct dag *dag, const struct dag_asset *assets,
                      size_t n, struct err *e)
{
    char *uris = store_asset_uris_param(assets, n);
    struct pbuf tasks, runs;
    const char *p[] = {dag->dag_id,
                       dag->fileloc,
                       dag->owner ? dag->owner : "airflow",
                       dag->timezone,
                       p_int(&tasks, dag->max_active_tasks),
                       p_int(&runs, dag->max_active_runs),
                       dag->is_paused_upon_creation ? "t" : "f",
                       uris};
    int rc;

    if (uris == NULL)
        return err_set(e, ERR_FAIL, "queue %s: out of memory", dag->dag_id);
    if (store_exec_cmd(s, e, "BEGIN", 0, NULL) != 0) {
        free(uris);
        return err_prefix(e, "queue %s", dag->dag_id);
    }
    rc = store_exec_cmd(s, e,
                        "INSERT INTO dag (dag_id, fileloc, owners, timezone, max_active_tasks, "
                        "max_active_runs, is_paused) VALUES ($1, $2, $3, coalesce($4, 'UTC'), $5, "
                        "$6, $7) ON CONFLICT (dag_id) DO NOTHING",
                        7, p);
    if (rc == 0)
        rc = store_exec_cmd(
            s, e,
            "INSERT INTO asset_dag_run_queue (asset_id, target_dag_id, created_at) "
            "SELECT a.id, d.dag_id, now() FROM asset a JOIN dag d ON d.dag_id = $1 AND "
            "d.is_active AND NOT d.is_paused WHERE a.uri = ANY($2::text[]) ORDER BY a.id "
            "ON CONFLICT (asset_id, target_dag_id) DO UPDATE SET "
            "created_at = asset_dag_run_queue.created_at",
            2, (const char *[]){dag->dag_id, uris});
    free(uris);
    if (store_end_tx(s, rc, e) < 0)
        return err_prefix(e, "queue %s", dag->dag_id);
    return 0;
}

/* ---- events from outside ---- */

int
store_asset_event_add(struct store *s, const char *uri, const char *extra_json, long long *event_id,
                      int *queued, struct err *e)
{
    const char *p[] = {uri, extra_json};
    PGresult *res = store_exec(
        s, e,
        "WITH a AS (SELECT id FROM asset WHERE uri = $1), "
        "ev AS (INSERT INTO asset_event (asset_id, extra, timestamp) SELECT id, "
        "coalesce($2::jsonb, '{}'), now() FROM a RETURNING id), "
        "q AS (INSERT INTO asset_dag_run_queue (asset_id, target_dag_id, created_at) "
        "SELECT r.asset_id, r.dag_id, now() FROM a JOIN dag_schedule_asset_reference r ON "
        "r.asset_id = a.id JOIN dag d ON d.dag_id = r.dag_id AND d.is_active AND NOT d.is_paused "
        "ORDER BY r.asset_id, r.dag_id ON CONFLICT (asset_id, target_dag_id) DO UPDATE SET "
        "created_at = asset_dag_run_queue.created_at "
        "RETURNING target_dag_id, pg_notify('gust', 'asset:' || target_dag_id)) "
        "SELECT (SELECT id FROM ev), (SELECT count(*) FROM q)",
        2, p);
    int rc = 0;

    if (res == NULL)
        return err_prefix(e, "asset event %s", uri);
    if (PQgetisnull(res, 0, 0))
        rc = err_set(e, ERR_NOTFOUND, "no asset has the URI '%s' (gust assets list shows them)",
                     uri);
    else {
        if (event_id)
            *event_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        if (queued)
            *queued = atoi(PQgetvalue(res, 0, 1));
    }
    PQclear(res);
    return rc;
}

/* ---- what the CLI and the templates read ---- */

/* Run a query whose one row's first column is JSON text into a new *json. */
static int
json_query(struct store *s, const char *sql, int n, const char *const *p, char **json,
           struct err *e)
{
    PGresult *res = store_exec(s, e, sql, n, p);
    int rc = 0;

    *json = NULL;
    if (res == NULL)
        return -1;
    if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0))
        rc = err_set(e, ERR_NOTFOUND, "not found");
    else if ((*json = strdup(PQgetvalue(res, 0, 0))) == NULL)
        rc = err_set(e, ERR_FAIL, "out of memory");
    PQclear(res);
    return rc;
}

/* An event's instant as ISO 8601 (UTC) and as Python prints a pendulum DateTime. */
#define EV_ISO(t) "to_char(" t " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"')"
#define EV_PY(t)                                                                                   \
    "regexp_replace(to_char(" t " AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), '\\.000000$', " \
    "'') || '+00:00'"
#define EV_SOURCE(ev)                                                                              \
    "'source_dag_id', " ev ".source_dag_id, 'source_task_id', " ev ".source_task_id, "             \
    "'source_run_id', " ev ".source_run_id, 'source_map_index', " ev ".source_map_index"

int
store_assets_json(struct store *s, char **json, struct err *e)
{
    if (json_query(s,
                   "SELECT coalesce(jsonb_agg(jsonb_build_object('uri', a.uri, 'name', a.name, "
                   "'group', a.\"group\", 'extra', a.extra, 'producers', (SELECT count(*) FROM "
                   "task_outlet_asset_reference o WHERE o.asset_id = a.id), 'consumers', (SELECT "
                   "count(*) FROM dag_schedule_asset_reference c WHERE c.asset_id = a.id), "
                   "'events', (SELECT count(*) FROM asset_event ev WHERE ev.asset_id = a.id), "
                   "'last_event', (SELECT " EV_ISO(
                       "max(ev.timestamp)") " FROM asset_event ev WHERE ev.asset_id = a.id)) ORDER "
                                            "BY a.uri), "
                                            "'[]')::text FROM asset a",
                   0, NULL, json, e) < 0)
        return err_prefix(e, "list assets");
    return 0;
}

int
store_asset_details_json(struct store *s, const char *uri, int limit, char **json, struct err *e)
{
    struct pbuf b;
    const char *p[] = {uri, p_int(&b, limit)};

    if (json_query(
            s,
            "SELECT jsonb_build_object('uri', a.uri, 'name', a.name, 'group', a.\"group\", "
            "'extra', a.extra, 'created_at', " EV_ISO("a.created_at") ", 'updated_at', " EV_ISO(
                "a.updated_at") ", 'producers', (SELECT coalesce(jsonb_agg(jsonb_build_object("
                                "'dag_id', o.dag_id, 'task_id', o.task_id) ORDER BY o.dag_id, "
                                "o.task_id), '[]') FROM "
                                "task_outlet_asset_reference o WHERE o.asset_id = a.id), "
                                "'consumers', (SELECT "
                                "coalesce(jsonb_agg(jsonb_build_object('dag_id', c.dag_id, "
                                "'is_paused', d.is_paused, "
                                "'queued', EXISTS (SELECT 1 FROM asset_dag_run_queue q WHERE "
                                "q.asset_id = a.id AND "
                                "q.target_dag_id = c.dag_id)) ORDER BY c.dag_id), '[]') FROM "
                                "dag_schedule_asset_reference c JOIN dag d ON d.dag_id = c.dag_id "
                                "WHERE c.asset_id = "
                                "a.id), 'events', (SELECT "
                                "coalesce(jsonb_agg(jsonb_build_object('id', ev.id, "
                                "'timestamp', " EV_ISO("ev.timestamp") ", 'extra', "
                                                                       "ev.extra, " EV_SOURCE(
                                                                           "ev") ") ORDER BY "
                                                                                 "ev.timestamp "
                                                                                 "DESC, ev.id "
                                                                                 "DESC), '[]') "
                                                                                 "FROM (SELECT * "
                                                                                 "FROM asset_event "
                                                                                 "x "
                                                                                 "WHERE x.asset_id "
                                                                                 "= a.id ORDER BY "
                                                                                 "x.timestamp "
                                                                                 "DESC, x.id DESC "
                                                                                 "LIMIT $2::int) "
                                                                                 "ev))::text "
                                                                                 "FROM asset a "
                                                                                 "WHERE a.uri = $1",
            2, p, json, e) < 0) {
        if (e && e->code == ERR_NOTFOUND)
            return err_set(e, ERR_NOTFOUND,
                           "no asset has the URI '%s' (gust assets list shows them)", uri);
        return err_prefix(e, "asset %s", uri);
    }
    return 0;
}

int
store_asset_triggering_json(struct store *s, const char *dag_id, const char *run_id, char **json,
                            struct err *e)
{
    const char *p[] = {dag_id, run_id};

    if (json_query(s,
                   "SELECT coalesce(jsonb_object_agg(uri, evs), '{}')::text FROM (SELECT a.uri, "
                   "jsonb_agg(jsonb_build_object('uri', a.uri, 'asset', jsonb_build_object('uri', "
                   "a.uri, 'name', a.name, 'group', a.\"group\", 'extra', a.extra), 'extra', "
                   "ev.extra, 'timestamp', " EV_PY("ev.timestamp") ", " EV_SOURCE(
                       "ev") ") ORDER BY ev.timestamp, ev.id) AS evs FROM dag_run r JOIN "
                             "dagrun_asset_event "
                             "l ON l.dag_run_id = r.id JOIN asset_event ev ON ev.id = l.event_id "
                             "JOIN asset "
                             "a ON a.id = ev.asset_id WHERE r.dag_id = $1 AND r.run_id = $2 "
                             "GROUP BY a.uri) t",
                   2, p, json, e) < 0)
        return err_prefix(e, "the events that triggered %s %s", dag_id, run_id);
    return 0;
}
