-- 0015_dispatch_scale: what kept the cost of a task growing with the number queued
-- (bench/README.md, "Dispatch" and "Growth").
--
-- 1. The active task instances of a DAG (queued or running) as an index of their own. The
-- planner counts them at each step for max_active_tasks, and per task for
-- max_active_tis_per_dag; without it the count read every row of the table (the statistics
-- of a table whose states change by thousands a second are rarely current), 1 to 5 ms a
-- step for a run of 5,000 tasks.
CREATE INDEX ti_active ON task_instance (dag_id, task_id) WHERE state IN ('queued', 'running');

-- 2. gust_claim walks the queued task instances in claim order and takes each one that
-- fits, as Airflow's scheduler does (_executable_task_instances_to_queued).
--
-- Why: the claim of 0014 was one large statement (window functions over every candidate,
-- joins with the running counts). PostgreSQL planned it anew at each call (a generic plan
-- was worse: the optional filters hide the index), about 3 ms of planning for 1 ms of work,
-- and it evaluated the limits of every queued row before sorting: 3.5 to 5 ms a claim with
-- 5,000 queued rows, the largest cost of a no-op task (bench/README.md, "Dispatch").
-- This version runs small statements whose plans are cached, and reads the queued rows
-- through the claim-order index (ti_claim_order) only as far as it needs.
--
-- The rules are those of 0014 (docs/operations.md, "Pools"):
--   * highest priority_weight first, then queued_dttm, dag_id, run_id, task_id, map_index;
--   * a row is taken only when its pool has pool_slots free (slots -1: unlimited), its DAG
--     runs fewer than max_active_tasks, and its task fewer than max_active_tis_per_dag over
--     the DAG and max_active_tis_per_dagrun in its run, counted over every running instance
--     in the database including those this call took before it; a row that does not fit is
--     passed over and the next one is tried;
--   * a row whose pool does not exist is claimed with a problem text (the caller fails
--     that try) and counts toward p_limit;
--   * a row whose pool_slots is more than its pool has waits until the pool is made larger.
-- Every claimer takes one transaction-level advisory lock before it counts, and each
-- statement of a function sees what was committed before it began (READ COMMITTED), so the
-- counts of a claim include every claim before it. The lock is taken at the first candidate:
-- a claim that finds nothing queued takes no lock. A row another transaction holds is
-- skipped (SKIP LOCKED), and one that changed since the walk read it (cleared, claimed) is
-- left to the next claim.
CREATE OR REPLACE FUNCTION gust_claim(p_dag text, p_run text, p_queue text, p_dags jsonb,
                                      p_limit bigint, p_now float8, p_host text, p_pid int,
                                      p_job bigint, p_lease float8)
RETURNS TABLE (dag_id varchar, run_id varchar, task_id varchar, try_number int, max_tries int,
               map_index int, first_poke float8, poke_count int, problem text)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
    wanted bigint := p_limit;
    batch bigint := p_limit + 16;
    seen bigint;
    locked boolean := false;
    c record;
    v_slots int;
    v_used bigint;
    v_max int;
    v_n bigint;
    v_problem text;
    full_pools text[] := '{}';  -- pools with no slot left: their rows are passed over at once
    full_dags text[] := '{}';   -- DAGs at max_active_tasks
BEGIN
    IF p_limit <= 0 THEN
        RETURN;
    END IF;
    -- First the rows that can fill the claim plus a few (one short index read); only when
    -- some of those did not fit, every queued row in order.
    LOOP
        seen := 0;
        FOR c IN
            SELECT t.ctid, t.dag_id, t.task_id, t.run_id, t.map_index, t.pool, t.pool_slots,
                   t.max_active_tis_per_dag, t.max_active_tis_per_dagrun
            FROM task_instance t
            WHERE t.state = 'queued'
            AND (p_dag IS NULL OR t.dag_id = p_dag) AND (p_run IS NULL OR t.run_id = p_run)
            AND (p_queue IS NULL OR t.queue = ANY (string_to_array(p_queue, ',')))
            AND (p_dags IS NULL OR p_dags ? t.dag_id)
            AND t.pool <> ALL (full_pools) AND t.dag_id <> ALL (full_dags)
            ORDER BY t.priority_weight DESC, t.queued_dttm NULLS LAST, t.dag_id, t.run_id,
                     t.task_id, t.map_index
            LIMIT batch
        LOOP
            seen := seen + 1;
            EXIT WHEN wanted <= 0;
            CONTINUE WHEN c.pool = ANY (full_pools) OR c.dag_id = ANY (full_dags);
            IF NOT locked THEN
                PERFORM pg_advisory_xact_lock(hashtext('gust_claim'));
                locked := true;
            END IF;
            v_problem := NULL;
            SELECT p.slots INTO v_slots FROM slot_pool p WHERE p.pool = c.pool;
            IF NOT FOUND THEN
                v_problem := format('pool %L does not exist', c.pool);
            ELSE
                IF v_slots >= 0 THEN
                    SELECT coalesce(sum(r.pool_slots), 0) INTO v_used FROM task_instance r
                    WHERE r.state = 'running' AND r.pool = c.pool;
                    IF v_used >= v_slots THEN
                        full_pools := full_pools || c.pool::text;
                        CONTINUE;
                    END IF;
                    CONTINUE WHEN c.pool_slots > v_slots - v_used;
                END IF;
                SELECT d.max_active_tasks INTO v_max FROM dag d WHERE d.dag_id = c.dag_id;
                IF coalesce(v_max, 0) > 0 THEN
                    SELECT count(*) INTO v_n FROM task_instance r
                    WHERE r.state = 'running' AND r.dag_id = c.dag_id;
                    IF v_n >= v_max THEN
                        full_dags := full_dags || c.dag_id::text;
                        CONTINUE;
                    END IF;
                END IF;
                IF c.max_active_tis_per_dag IS NOT NULL THEN
                    SELECT count(*) INTO v_n FROM task_instance r
                    WHERE r.state = 'running' AND r.dag_id = c.dag_id AND r.task_id = c.task_id;
                    CONTINUE WHEN v_n >= c.max_active_tis_per_dag;
                END IF;
                IF c.max_active_tis_per_dagrun IS NOT NULL THEN
                    SELECT count(*) INTO v_n FROM task_instance r
                    WHERE r.state = 'running' AND r.dag_id = c.dag_id AND r.task_id = c.task_id
                    AND r.run_id = c.run_id;
                    CONTINUE WHEN v_n >= c.max_active_tis_per_dagrun;
                END IF;
            END IF;
            -- by the row's address, read with it: a TID scan whatever the statistics say
            -- (they lag far behind a run that queues thousands of rows at once); a row
            -- changed since the walk read it is left to the next claim
            PERFORM 1 FROM task_instance l WHERE l.ctid = c.ctid AND l.state = 'queued'
            FOR UPDATE SKIP LOCKED;
            CONTINUE WHEN NOT FOUND;
            UPDATE task_instance t SET state = 'running', try_number = t.try_number + 1,
                start_date = to_timestamp(p_now), end_date = NULL, duration = NULL,
                exit_code = NULL, term_signal = NULL, next_retry_at = NULL,
                reschedule_date = NULL, hostname = p_host, pid = nullif(p_pid, 0),
                job_id = nullif(p_job, 0), last_heartbeat_at = to_timestamp(p_now),
                lease_until = to_timestamp(p_lease), updated_at = now()
            WHERE t.ctid = c.ctid AND t.state = 'queued'
            RETURNING t.dag_id, t.run_id, t.task_id, t.try_number, t.max_tries, t.map_index,
                      extract(epoch FROM t.first_poke)::float8, t.poke_count
            INTO dag_id, run_id, task_id, try_number, max_tries, map_index, first_poke,
                 poke_count;
            CONTINUE WHEN NOT FOUND;
            DELETE FROM xcom x WHERE x.dag_id = c.dag_id AND x.run_id = c.run_id
            AND x.task_id = c.task_id AND x.map_index = c.map_index;
            problem := v_problem;
            RETURN NEXT;
            wanted := wanted - 1;
        END LOOP;
        EXIT WHEN wanted <= 0 OR batch IS NULL OR seen < batch;
        batch := NULL; -- LIMIT NULL: no limit
    END LOOP;
END
$fn$;
