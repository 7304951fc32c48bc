-- dbt_test_data_quality.gold_reconciles: the gold tables add up to what silver holds (events
-- with a created_at; repository and actor tables without the events that lack a repo_id or
-- actor_id), and gold has caught up with silver (its watermark is silver's last row).
WITH s AS (
    SELECT count(*) AS events,
           count(*) FILTER (WHERE repo_id IS NOT NULL) AS repo_events,
           count(*) FILTER (WHERE repo_id IS NOT NULL AND type = 'PushEvent') AS repo_pushes,
           coalesce(sum(size) FILTER (WHERE repo_id IS NOT NULL AND type = 'PushEvent'), 0)
               AS repo_commits,
           count(*) FILTER (WHERE actor_id IS NOT NULL) AS actor_events,
           count(*) FILTER (WHERE type = 'PullRequestEvent' AND action = 'closed'
                              AND pr_merged IS TRUE) AS merges,
           count(DISTINCT gold.utc_day(created_at)) AS days
      FROM silver.github_events_parsed WHERE created_at IS NOT NULL
), g AS (
    SELECT (SELECT coalesce(sum(events), 0) FROM gold.hourly_events_by_type) AS events,
           (SELECT coalesce(sum(events), 0) FROM gold.daily_repo_activity) AS repo_events,
           (SELECT coalesce(sum(pushes), 0) FROM gold.daily_repo_activity) AS repo_pushes,
           (SELECT coalesce(sum(commits), 0) FROM gold.daily_repo_activity) AS repo_commits,
           (SELECT coalesce(sum(events), 0) FROM gold.daily_actor_activity) AS actor_events,
           (SELECT coalesce(sum(prs_merged), 0) FROM gold.daily_pr_merge_stats) AS merges,
           (SELECT count(*) FROM gold.daily_pr_merge_stats) AS days
), w AS (
    SELECT (SELECT last_seq FROM silver.watermarks WHERE layer = 'gold') AS gold_seq,
           (SELECT coalesce(max(ingestion_seq), 0) FROM silver.github_events_parsed) AS silver_seq
)
SELECT 'gold/silver: events ' || g.events || '/' || s.events
       || ', repo events ' || g.repo_events || '/' || s.repo_events
       || ', pushes ' || g.repo_pushes || '/' || s.repo_pushes
       || ', commits ' || g.repo_commits || '/' || s.repo_commits
       || ', actor events ' || g.actor_events || '/' || s.actor_events
       || ', merges ' || g.merges || '/' || s.merges
       || ', days ' || g.days || '/' || s.days
       || ', watermark ' || w.gold_seq || '/' || w.silver_seq AS finding,
       (g.events, g.repo_events, g.repo_pushes, g.repo_commits, g.actor_events, g.merges, g.days,
        w.gold_seq)
       = (s.events, s.repo_events, s.repo_pushes, s.repo_commits, s.actor_events, s.merges,
          s.days, w.silver_seq) AS gold_reconciles
  FROM s, g, w;
