-- github_events_pipeline.transform_bronze_to_silver: the bronze rows committed since the last
-- run (ingestion_seq past the 'silver' watermark) -> silver.github_events_parsed, one row per
-- event_id, payload parsed into columns. Runs in one transaction (sql_task's default): the
-- rows and the watermark commit together, so a failed try moved nothing and a rerun with no
-- new bronze rows changes nothing. A duplicate event_id (at-least-once delivery) keeps the
-- first copy: the lowest seq in this batch, and ON CONFLICT keeps the one already in silver.
-- The advisory lock (shared with refresh_gold.sql) makes silver and gold take turns.
SELECT pg_advisory_xact_lock(hashtext('github_events silver/gold'));

WITH wm AS (
    SELECT last_seq FROM silver.watermarks WHERE layer = 'silver' FOR UPDATE
), batch AS (
    SELECT b.* FROM bronze.github_events b, wm WHERE b.ingestion_seq > wm.last_seq
), firsts AS (
    SELECT DISTINCT ON (event_id) * FROM batch ORDER BY event_id, ingestion_seq
), parsed AS (
    SELECT f.event_id, f.id, f.type, f.actor_id, f.actor_login, f.repo_id, f.repo_name,
           f.public, f.created_at,
           silver.jsonb_text(f.payload -> 'action') AS action,
           silver.jsonb_text(f.payload -> 'ref') AS ref,
           silver.jsonb_text(f.payload -> 'ref_type') AS ref_type,
           silver.jsonb_bigint(f.payload -> 'size') AS size,
           silver.jsonb_bigint(f.payload -> 'distinct_size') AS distinct_size,
           silver.jsonb_text(f.payload -> 'head') AS head,
           silver.jsonb_bigint(f.payload -> 'pull_request' -> 'id') AS pr_id,
           silver.jsonb_bigint(coalesce(f.payload -> 'pull_request' -> 'number',
                                        f.payload -> 'number')) AS pr_number,
           silver.jsonb_text(f.payload -> 'pull_request' -> 'state') AS pr_state,
           silver.jsonb_text(f.payload -> 'pull_request' -> 'title') AS pr_title,
           silver.jsonb_bool(f.payload -> 'pull_request' -> 'merged') AS pr_merged,
           silver.jsonb_time(f.payload -> 'pull_request' -> 'created_at') AS pr_created_at,
           silver.jsonb_time(f.payload -> 'pull_request' -> 'merged_at') AS pr_merged_at,
           silver.jsonb_bigint(f.payload -> 'issue' -> 'number') AS issue_number,
           silver.jsonb_text(f.payload -> 'issue' -> 'title') AS issue_title,
           silver.jsonb_text(f.payload -> 'issue' -> 'state') AS issue_state,
           f.ingestion_date, f.ingestion_seq, f.ingested_at
      FROM firsts f
), inserted AS (
    INSERT INTO silver.github_events_parsed
        (event_id, id, type, actor_id, actor_login, repo_id, repo_name, public, created_at,
         action, ref, ref_type, size, distinct_size, head, pr_id, pr_number, pr_state,
         pr_title, pr_merged, pr_created_at, pr_merged_at, issue_number, issue_title,
         issue_state, ingestion_date, ingestion_seq, ingested_at)
    SELECT event_id, id, type, actor_id, actor_login, repo_id, repo_name, public, created_at,
           action, ref, ref_type,
           -- out of integer range is as unreadable as a string: NULL
           CASE WHEN size BETWEEN 0 AND 2147483647 THEN size END,
           CASE WHEN distinct_size BETWEEN 0 AND 2147483647 THEN distinct_size END,
           head, pr_id,
           CASE WHEN pr_number BETWEEN 0 AND 2147483647 THEN pr_number END,
           pr_state, pr_title, pr_merged, pr_created_at, pr_merged_at,
           CASE WHEN issue_number BETWEEN 0 AND 2147483647 THEN issue_number END,
           issue_title, issue_state, ingestion_date, ingestion_seq, ingested_at
      FROM parsed
     ORDER BY ingestion_seq
    ON CONFLICT (event_id) DO NOTHING
    RETURNING 1
), moved AS (
    UPDATE silver.watermarks
       SET last_seq = (SELECT max(ingestion_seq) FROM batch), updated_at = now()
     WHERE layer = 'silver' AND EXISTS (SELECT 1 FROM batch)
    RETURNING last_seq
)
SELECT (SELECT count(*) FROM batch) AS bronze_rows_read,
       (SELECT count(*) FROM inserted) AS silver_rows_inserted,
       coalesce((SELECT last_seq FROM moved), (SELECT last_seq FROM wm)) AS silver_watermark;
