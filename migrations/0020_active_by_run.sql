-- 0020_active_by_run: the planner counts the active instances of a DAG's other runs only.
--
-- A planning step that may queue an instance needs the DAG's queued and running instances
-- over all its runs (max_active_tasks). It counted them in the database, up to the cap: at
-- the cap, every try's end made a step that read cap index entries (0.33 ms a step with the
-- bench's cap of 1,000; 0.23 ms per task in a fan-out of 20,000, bench/README.md). The
-- scheduler already knows the instances of the run it plans (its planning state), so it now
-- counts in the database only the other runs' (store_count_active), two ranges of this index
-- on either side of the run: nothing to read when the DAG has one active run.
--
-- ti_active was (dag_id, task_id); no statement looked a task up in it (the per-task count
-- of max_active_tis_per_dag reads all of a DAG's active rows, and the claim counts running
-- rows through ti_running_task), so it is replaced, not added to.
DROP INDEX ti_active;
CREATE INDEX ti_active ON task_instance (dag_id, run_id) WHERE state IN ('queued', 'running');
