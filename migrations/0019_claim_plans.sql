-- 0019_claim_plans: the claim's plans hold when the statistics are stale.
--
-- Found with auto_explain in a fan-out of 20,000 tasks on a fresh database (bench/README.md,
-- "The claim's plans and stale statistics"). task_instance had been analyzed, or never, while
-- it held no queued row; then a run queued 20,000 at once. Until autovacuum analyzed the
-- table again (up to a minute later, autovacuum_naptime), two statements of gust_claim (0015)
-- read every queued row at each claim:
--   * the walk in claim order took a bitmap scan of ti_claim_order (and ti_active) and a
--     top-N sort of all 20,000 queued rows, "rows=4" estimated: 9 to 12 ms a claim instead
--     of 0.1 ms; the LIMIT that 0016 made the index serve went unused;
--   * the count of a DAG's running instances (max_active_tasks) read the DAG's active rows
--     through ti_active (dag_id, task_id; queued or running) and filtered out the queued ones
--     ("Rows Removed by Filter: 19967"): 2.6 ms. ti_running (pool, dag_id) could not give a
--     DAG's rows without the pool.
-- Together about 1.2 ms of the 3.6 ms a task cost in that fan-out.
--
-- 1. gust_claim plans with sorts, bitmap scans and sequential scans off. A plan with one of
--    them then costs more than any plan without, and the plans left are index scans:
--    * the walk can only follow ti_claim_order in its order, stopping at the LIMIT (no
--      other statement of gust_claim sorts);
--    * a count of running rows reads an index of running rows. A bitmap scan would not do:
--      it returns the entry of every row that was running since the last VACUUM, and visits
--      its heap page, at every claim (seen: the pool count through ti_lease, 7,498 entries
--      and 0.6 ms a claim), where an index scan marks such entries dead once and then steps
--      over them. A sequential scan is what the planner takes for the running count when
--      the table was analyzed while most of its rows were running.
--    The settings hold inside the function only (PostgreSQL restores them when it returns).
--    A claim for one DAG run (gust dags test) walks the claim order too, passing over other
--    runs' queued rows, as a claim for every DAG does.
ALTER FUNCTION gust_claim(text, text, text, jsonb, bigint, float8, text, int, bigint, float8)
    SET enable_sort = off SET enable_bitmapscan = off SET enable_seqscan = off;

-- 2. The running instances by DAG, task and run: the claim's counts for max_active_tasks,
--    max_active_tis_per_dag and max_active_tis_per_dagrun are each a range of this index,
--    and no other index fits them as closely, so the planner takes it whatever it believes of
--    the table. ti_running (pool, dag_id) stays for the pools' counts: read whole, any index
--    of running rows costs a claim up to 0.6 ms, for the entries of rows no longer running
--    stay in it until VACUUM and a bitmap scan visits each one's heap page (tried: 0.19 ms a
--    claim on average in the same fan-out).
CREATE INDEX ti_running_task ON task_instance (dag_id, task_id, run_id) WHERE state = 'running';
