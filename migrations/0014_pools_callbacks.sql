-- 0014_pools_callbacks: pools, the per-task limits the claim enforces, and the record of
-- callbacks (docs/operations.md, "Pools" and "Notifications").
--
-- slot_pool is Airflow's table. A running task instance occupies pool_slots of its pool; the
-- claim (gust_claim, below) takes a queued instance only when its pool, its DAG's
-- max_active_tasks and its task's max_active_tis_per_dag / _per_dagrun leave room, counting
-- what runs now under a lock every claimer takes, so two processes can never overfill one.
-- slots -1 is unlimited, as in Airflow. include_deferred is kept for Airflow's JSON: gust has
-- no deferred state (a deferrable sensor reschedules and holds no slot while it waits).
CREATE TABLE slot_pool (
    id               serial PRIMARY KEY,
    pool             varchar(256) NOT NULL CONSTRAINT slot_pool_pool_uq UNIQUE,
    slots            integer NOT NULL DEFAULT 0 CHECK (slots >= -1),
    description      text,
    include_deferred boolean NOT NULL DEFAULT false
);
INSERT INTO slot_pool (pool, slots, description) VALUES ('default_pool', 128, 'Default pool');

-- gust: the task's limits, copied from the DAG file when the instance is made (Airflow reads
-- them from the DAG; the claim reads them here). NULL: none.
ALTER TABLE task_instance ADD COLUMN max_active_tis_per_dag integer;
ALTER TABLE task_instance ADD COLUMN max_active_tis_per_dagrun integer;
-- what the claim counts: the running instances of a pool, of a DAG
CREATE INDEX ti_running ON task_instance (pool, dag_id) WHERE state = 'running';

-- One callback gust ran (or started): a notifier of a task's or a DAG run's state change.
-- The process whose fenced update made the change inserts the row; the unique key makes a
-- second insert for the same change a no-op, so a notification is sent at most once.
-- task_id '' is the DAG run's own callback, whose try_number is the run's clear_number (a
-- cleared run that ends again is a new change). state: running until the notifier ends.
CREATE TABLE callback_request (
    id          bigserial PRIMARY KEY,
    created_at  timestamptz NOT NULL DEFAULT now(),
    dag_id      varchar(250) NOT NULL,
    run_id      varchar(250) NOT NULL,
    task_id     varchar(250) NOT NULL DEFAULT '',
    map_index   integer NOT NULL DEFAULT -1,
    try_number  integer NOT NULL DEFAULT 0,
    event       varchar(30) NOT NULL,
    notifier    integer NOT NULL DEFAULT 0,
    callback    text NOT NULL,
    state       varchar(20) NOT NULL DEFAULT 'running'
        CHECK (state IN ('running', 'success', 'failed')),
    hostname    varchar(1000),
    ended_at    timestamptz,
    message     text,
    CONSTRAINT callback_request_once
        UNIQUE (dag_id, run_id, task_id, map_index, try_number, event, notifier)
);

-- The claim: up to p_limit queued task instances (matching the filters) become running tries
-- of this process, highest priority_weight first, taking only what fits in their pools, their
-- DAG's max_active_tasks and their task's limits, counted over every running instance in the
-- database. Every claimer takes one transaction-level advisory lock first, so the counts of
-- each claim include every claim before it; each statement of a function sees the rows
-- committed before it began (READ COMMITTED), which is why this is a function and not one
-- statement: a statement waiting on a lock would still count with its older snapshot.
-- A row whose pool does not exist is claimed with a problem text; the caller fails that try.
-- A row whose pool_slots is more than its pool has (a pool of 0 slots included: Airflow's way
-- to hold a pool's tasks back) waits until the pool is made larger, as in Airflow.
-- One pass takes the first p_limit rows that fit one by one, then keeps those that fit
-- together (running sums in claim order); what a pass leaves for lack of room together is
-- taken by the next pass, until one takes nothing or the limit is reached.
CREATE FUNCTION gust_claim(p_dag text, p_run text, p_queue text, p_dags jsonb, p_limit bigint,
                           p_now float8, p_host text, p_pid int, p_job bigint, p_lease float8)
RETURNS TABLE (dag_id varchar, run_id varchar, task_id varchar, try_number int, max_tries int,
               map_index int, first_poke float8, poke_count int, problem text)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
    wanted bigint := p_limit;
    got bigint;
BEGIN
    IF p_limit <= 0 OR NOT EXISTS (
        SELECT 1 FROM task_instance t WHERE t.state = 'queued'
        AND (p_dag IS NULL OR t.dag_id = p_dag) AND (p_run IS NULL OR t.run_id = p_run)
        AND (p_queue IS NULL OR t.queue = ANY (string_to_array(p_queue, ',')))
        AND (p_dags IS NULL OR p_dags ? t.dag_id))
    THEN
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('gust_claim'));
    LOOP
        RETURN QUERY
        WITH r AS MATERIALIZED (
            SELECT r.dag_id, r.run_id, r.task_id, r.pool, r.pool_slots FROM task_instance r
            WHERE r.state = 'running'),
        rp AS (SELECT pool, sum(pool_slots) AS used FROM r GROUP BY pool),
        rd AS (SELECT dag_id, count(*) AS n FROM r GROUP BY dag_id),
        rt AS (SELECT dag_id, task_id, count(*) AS n FROM r GROUP BY dag_id, task_id),
        rr AS (SELECT dag_id, run_id, task_id, count(*) AS n FROM r
               GROUP BY dag_id, run_id, task_id),
        c AS (
            SELECT t.dag_id, t.task_id, t.run_id, t.map_index, t.pool, t.pool_slots,
                   t.priority_weight, t.queued_dttm,
                   CASE WHEN p.pool IS NULL THEN format('pool %L does not exist', t.pool)
                        END AS problem,
                   CASE WHEN p.slots < 0 THEN NULL ELSE p.slots - coalesce(rp.used, 0) END
                       AS pool_free,
                   CASE WHEN coalesce(d.max_active_tasks, 0) <= 0 THEN NULL
                        ELSE d.max_active_tasks - coalesce(rd.n, 0) END AS dag_free,
                   t.max_active_tis_per_dag - coalesce(rt.n, 0) AS task_free,
                   t.max_active_tis_per_dagrun - coalesce(rr.n, 0) AS run_free
            FROM task_instance t
            LEFT JOIN slot_pool p ON p.pool = t.pool
            LEFT JOIN rp ON rp.pool = t.pool
            LEFT JOIN dag d ON d.dag_id = t.dag_id
            LEFT JOIN rd ON rd.dag_id = t.dag_id
            LEFT JOIN rt ON rt.dag_id = t.dag_id AND rt.task_id = t.task_id
            LEFT JOIN rr ON rr.dag_id = t.dag_id AND rr.run_id = t.run_id
                        AND rr.task_id = t.task_id
            WHERE t.state = 'queued'
            AND (p_dag IS NULL OR t.dag_id = p_dag) AND (p_run IS NULL OR t.run_id = p_run)
            AND (p_queue IS NULL OR t.queue = ANY (string_to_array(p_queue, ',')))
            AND (p_dags IS NULL OR p_dags ? t.dag_id)
            AND (p.pool IS NULL OR (
                (p.slots < 0 OR t.pool_slots <= p.slots - coalesce(rp.used, 0))
                AND (coalesce(d.max_active_tasks, 0) <= 0
                     OR d.max_active_tasks - coalesce(rd.n, 0) >= 1)
                AND (t.max_active_tis_per_dag IS NULL
                     OR t.max_active_tis_per_dag - coalesce(rt.n, 0) >= 1)
                AND (t.max_active_tis_per_dagrun IS NULL
                     OR t.max_active_tis_per_dagrun - coalesce(rr.n, 0) >= 1)))
            ORDER BY t.priority_weight DESC, t.queued_dttm NULLS LAST, t.dag_id, t.run_id,
                     t.task_id, t.map_index
            LIMIT wanted),
        o AS (SELECT c.*, row_number() OVER (ORDER BY c.priority_weight DESC,
                  c.queued_dttm NULLS LAST, c.dag_id, c.run_id, c.task_id, c.map_index) AS ord
              FROM c),
        w AS (
            SELECT o.*,
                   sum(CASE WHEN o.problem IS NULL THEN o.pool_slots ELSE 0 END)
                       OVER (PARTITION BY o.pool ORDER BY o.ord) AS pool_sum,
                   count(o.problem IS NULL OR NULL) OVER (PARTITION BY o.dag_id ORDER BY o.ord)
                       AS dag_sum,
                   count(o.problem IS NULL OR NULL)
                       OVER (PARTITION BY o.dag_id, o.task_id ORDER BY o.ord) AS task_sum,
                   count(o.problem IS NULL OR NULL)
                       OVER (PARTITION BY o.dag_id, o.run_id, o.task_id ORDER BY o.ord) AS run_sum
            FROM o),
        k AS (
            SELECT w.dag_id, w.task_id, w.run_id, w.map_index, w.problem FROM w
            WHERE w.problem IS NOT NULL OR (
                (w.pool_free IS NULL OR w.pool_sum <= w.pool_free)
                AND (w.dag_free IS NULL OR w.dag_sum <= w.dag_free)
                AND (w.task_free IS NULL OR w.task_sum <= w.task_free)
                AND (w.run_free IS NULL OR w.run_sum <= w.run_free))),
        l AS (
            SELECT t.dag_id, t.task_id, t.run_id, t.map_index FROM task_instance t
            JOIN k ON t.dag_id = k.dag_id AND t.task_id = k.task_id AND t.run_id = k.run_id
                  AND t.map_index = k.map_index
            WHERE t.state = 'queued' FOR UPDATE OF t SKIP LOCKED),
        u AS (
            UPDATE task_instance t SET state = 'running', try_number = t.try_number + 1,
                start_date = to_timestamp(p_now), end_date = NULL, duration = NULL,
                exit_code = NULL, term_signal = NULL, next_retry_at = NULL,
                reschedule_date = NULL, hostname = p_host, pid = nullif(p_pid, 0),
                job_id = nullif(p_job, 0), last_heartbeat_at = to_timestamp(p_now),
                lease_until = to_timestamp(p_lease), updated_at = now()
            FROM l WHERE t.dag_id = l.dag_id AND t.task_id = l.task_id
            AND t.run_id = l.run_id AND t.map_index = l.map_index AND t.state = 'queued'
            RETURNING t.dag_id, t.run_id, t.task_id, t.try_number, t.max_tries,
                      t.priority_weight, t.queued_dttm, t.map_index,
                      extract(epoch FROM t.first_poke)::float8 AS first_poke, t.poke_count),
        x AS (
            DELETE FROM xcom USING u WHERE xcom.dag_id = u.dag_id AND xcom.run_id = u.run_id
            AND xcom.task_id = u.task_id AND xcom.map_index = u.map_index)
        SELECT u.dag_id, u.run_id, u.task_id, u.try_number, u.max_tries, u.map_index,
               u.first_poke, u.poke_count, k.problem
        FROM u JOIN k ON u.dag_id = k.dag_id AND u.task_id = k.task_id
                     AND u.run_id = k.run_id AND u.map_index = k.map_index
        ORDER BY u.priority_weight DESC, u.queued_dttm NULLS LAST, u.dag_id, u.run_id,
                 u.task_id, u.map_index;
        GET DIAGNOSTICS got = ROW_COUNT;
        wanted := wanted - got;
        EXIT WHEN got = 0 OR wanted <= 0;
    END LOOP;
END
$fn$;
