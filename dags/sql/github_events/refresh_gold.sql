-- github_events_pipeline.dbt_run_gold_models: the gold tables recomputed for every UTC day
-- that silver rows added since the last run (ingestion_seq past the 'gold' watermark) fall
-- on: each such day is deleted and computed again from all of silver's rows of that day, so
-- a late event corrects its day and a rerun gives the same numbers. One transaction: the four
-- tables and the watermark commit together. The
-- advisory lock (shared with transform_bronze_to_silver.sql) keeps silver still meanwhile.
SELECT pg_advisory_xact_lock(hashtext('github_events silver/gold'));

CREATE TEMP TABLE gold_days ON COMMIT DROP AS
SELECT DISTINCT gold.utc_day(s.created_at) AS day
  FROM silver.github_events_parsed s
 WHERE s.ingestion_seq > (SELECT last_seq FROM silver.watermarks WHERE layer = 'gold')
   AND s.created_at IS NOT NULL;

CREATE TEMP TABLE gold_events ON COMMIT DROP AS
SELECT s.*, gold.utc_day(s.created_at) AS day,
       (s.type = 'PushEvent')::int AS is_push,
       CASE WHEN s.type = 'PushEvent' THEN coalesce(s.size, 0) ELSE 0 END AS push_commits,
       (s.type = 'PullRequestEvent' AND s.action = 'opened')::int AS is_pr_opened,
       (s.type = 'PullRequestEvent' AND s.action = 'closed' AND s.pr_merged IS TRUE)::int
           AS is_pr_merged,
       (s.type = 'IssuesEvent' AND s.action = 'opened')::int AS is_issue_opened
  FROM silver.github_events_parsed s
 WHERE s.created_at >= (SELECT min(day)::timestamp AT TIME ZONE 'UTC' FROM gold_days)
   AND s.created_at < (SELECT (max(day) + 1)::timestamp AT TIME ZONE 'UTC' FROM gold_days)
   AND gold.utc_day(s.created_at) IN (SELECT day FROM gold_days);

DELETE FROM gold.hourly_events_by_type WHERE gold.utc_day(hour) IN (SELECT day FROM gold_days);
INSERT INTO gold.hourly_events_by_type (hour, type, events)
SELECT gold.utc_hour(created_at), type, count(*) FROM gold_events GROUP BY 1, 2;

DELETE FROM gold.daily_repo_activity WHERE day IN (SELECT day FROM gold_days);
INSERT INTO gold.daily_repo_activity
    (day, repo_id, repo_name, events, pushes, commits, prs_opened, prs_merged, issues_opened)
SELECT day, repo_id,
       (array_agg(repo_name ORDER BY created_at DESC, ingestion_seq DESC))[1],
       count(*), sum(is_push), sum(push_commits), sum(is_pr_opened), sum(is_pr_merged),
       sum(is_issue_opened)
  FROM gold_events WHERE repo_id IS NOT NULL GROUP BY day, repo_id;

DELETE FROM gold.daily_actor_activity WHERE day IN (SELECT day FROM gold_days);
INSERT INTO gold.daily_actor_activity
    (day, actor_id, actor_login, events, pushes, commits, prs_opened, prs_merged,
     issues_opened, repos)
SELECT day, actor_id,
       (array_agg(actor_login ORDER BY created_at DESC, ingestion_seq DESC))[1],
       count(*), sum(is_push), sum(push_commits), sum(is_pr_opened), sum(is_pr_merged),
       sum(is_issue_opened), count(DISTINCT repo_id)
  FROM gold_events WHERE actor_id IS NOT NULL GROUP BY day, actor_id;

DELETE FROM gold.daily_pr_merge_stats WHERE day IN (SELECT day FROM gold_days);
INSERT INTO gold.daily_pr_merge_stats
    (day, prs_opened, prs_merged, merges_timed, avg_hours_to_merge, median_hours_to_merge)
SELECT d.day, count(*) FILTER (WHERE e.is_pr_opened = 1), count(*) FILTER (WHERE e.is_pr_merged = 1),
       count(e.hours), round(avg(e.hours), 2),
       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY e.hours))::numeric, 2)
  FROM gold_days d
  LEFT JOIN (SELECT day, is_pr_opened, is_pr_merged,
                    CASE WHEN is_pr_merged = 1 AND pr_merged_at >= pr_created_at
                         THEN extract(epoch FROM pr_merged_at - pr_created_at) / 3600 END AS hours
               FROM gold_events WHERE type = 'PullRequestEvent') e ON e.day = d.day
 GROUP BY d.day;

UPDATE silver.watermarks w
   SET last_seq = s.last_seq, updated_at = now()
  FROM (SELECT max(ingestion_seq) AS last_seq FROM silver.github_events_parsed) s
 WHERE w.layer = 'gold' AND s.last_seq > w.last_seq;

SELECT (SELECT count(*) FROM gold_days) AS days_recomputed,
       (SELECT last_seq FROM silver.watermarks WHERE layer = 'gold') AS gold_watermark;
