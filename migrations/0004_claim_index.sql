-- 0004_claim_index (gust): the claim's order as an index. store_claim_queued takes the first queued task
-- instances by priority_weight DESC, queued_dttm, dag_id, run_id, task_id; without this index
-- every claim read and sorted every queued row (a 1,000-task fan-out: a million rows over the
-- run). With it a claim reads the few rows it takes. Partial: only queued rows are indexed.
CREATE INDEX ti_claim_order ON task_instance (priority_weight DESC, queued_dttm, dag_id, run_id, task_id)
    WHERE state = 'queued';
