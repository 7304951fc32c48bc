-- dbt_test_data_quality.silver_rows: rules every silver row keeps (a table check that, unlike
-- SQLTableCheckOperator, passes on an empty silver: a fresh deployment has no events yet).
-- The first column counts the rows breaking each rule, the second is the verdict.
SELECT 'silver rows breaking a rule: empty type ' || count(*) FILTER (WHERE type = '')
       || ', distinct_size above size ' || count(*) FILTER (WHERE distinct_size > size)
       || ', merged without merged_at ' || count(*) FILTER (WHERE pr_merged AND pr_merged_at IS NULL)
       || ', seq past the silver watermark '
       || count(*) FILTER (WHERE ingestion_seq > (SELECT last_seq FROM silver.watermarks
                                                   WHERE layer = 'silver'))
       AS finding,
       count(*) FILTER (WHERE type = '' OR distinct_size > size
                          OR (pr_merged AND pr_merged_at IS NULL)
                          OR ingestion_seq > (SELECT last_seq FROM silver.watermarks
                                               WHERE layer = 'silver')) = 0
       AS every_rule_kept
  FROM silver.github_events_parsed;
