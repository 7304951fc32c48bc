-- github_events_pipeline.dbt_run_silver_models: the derived silver models, materialized as
-- views the way dbt materializes a `view` model on every run (CREATE OR REPLACE), so an edit
-- here takes effect at the next run with no migration. They read
-- silver.github_events_parsed and hold no data of their own. One transaction.

-- One row per push.
CREATE OR REPLACE VIEW silver.push_events AS
SELECT event_id, created_at, actor_id, actor_login, repo_id, repo_name, ref, head,
       size AS commits, distinct_size AS distinct_commits, ingestion_seq
  FROM silver.github_events_parsed
 WHERE type = 'PushEvent';

-- One row per pull request event (opened, closed, reopened, ...).
CREATE OR REPLACE VIEW silver.pull_request_events AS
SELECT event_id, created_at, actor_id, actor_login, repo_id, repo_name, action, pr_id,
       pr_number, pr_state, pr_title, pr_merged, pr_created_at, pr_merged_at,
       action = 'closed' AND pr_merged IS TRUE AS is_merge,
       pr_merged_at - pr_created_at AS time_to_merge, ingestion_seq
  FROM silver.github_events_parsed
 WHERE type = 'PullRequestEvent';

-- One row per issue event (IssuesEvent; comments are IssueCommentEvent and not here).
CREATE OR REPLACE VIEW silver.issue_events AS
SELECT event_id, created_at, actor_id, actor_login, repo_id, repo_name, action,
       issue_number, issue_title, issue_state, ingestion_seq
  FROM silver.github_events_parsed
 WHERE type = 'IssuesEvent';

-- The latest known state of each pull request (by its latest event).
CREATE OR REPLACE VIEW silver.pull_requests AS
SELECT DISTINCT ON (repo_id, pr_number)
       repo_id, repo_name, pr_number, pr_id, pr_title, pr_state, pr_merged, pr_created_at,
       pr_merged_at, created_at AS last_event_at
  FROM silver.pull_request_events
 WHERE pr_number IS NOT NULL
 ORDER BY repo_id, pr_number, created_at DESC NULLS LAST, ingestion_seq DESC;

SELECT count(*) AS silver_views FROM pg_views
 WHERE schemaname = 'silver'
   AND viewname IN ('push_events', 'pull_request_events', 'issue_events', 'pull_requests');
