-- 0017_apply_changes: a planning step's changes in one call, each row found by its key.
--
-- The planner decides a run's next transitions (none -> scheduled -> queued, skipped,
-- upstream_failed...) and writes them conditionally: a row changes only from the state the
-- planner saw, so a change another process made first wins (docs/architecture.md). One
-- statement per change cost a round trip each, and a fan-out's first step queues up to
-- max_active_tasks instances at once. A single UPDATE joined to the changes was planned from
-- the table's statistics, which lag far behind a run that just inserted thousands of rows:
-- its generic plan hashed every row of the run (14 ms for one change in a run of 20,000).
-- Here each change is one UPDATE by the primary key, whose plan does not depend on them, in
-- order (a change sees the ones before it: the same instance may be named twice).
--
-- p_changes: a JSON array of {"i": index, "t": task_id, "m": map_index, "f": from state,
-- "s": to state} (states as stored, null for none). Returns the indexes of the changes made;
-- when one of them queued an instance, notifies 'queued:<dag_id>' once.
CREATE OR REPLACE FUNCTION gust_apply_changes(p_dag text, p_run text, p_changes jsonb,
                                              p_now float8)
RETURNS SETOF int
LANGUAGE plpgsql AS $fn$
DECLARE
    c record;
    queued boolean := false;
BEGIN
    FOR c IN SELECT * FROM jsonb_to_recordset(p_changes) AS x(i int, t text, m int, f text, s text)
    LOOP
        UPDATE task_instance ti SET state = c.s,
            queued_dttm = CASE WHEN c.s = 'queued' THEN to_timestamp(p_now) ELSE ti.queued_dttm END,
            updated_at = now()
        WHERE ti.dag_id = p_dag AND ti.run_id = p_run AND ti.task_id = c.t AND ti.map_index = c.m
        AND ti.state IS NOT DISTINCT FROM c.f;
        IF FOUND THEN
            IF c.s = 'queued' THEN
                queued := true;
            END IF;
            RETURN NEXT c.i;
        END IF;
    END LOOP;
    IF queued THEN
        PERFORM pg_notify('gust', 'queued:' || p_dag);
    END IF;
END
$fn$;
