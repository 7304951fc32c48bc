-- dbt_test_data_quality.silver_in_bronze: every silver row is the bronze row it names
-- (same ingestion_date, ingestion_seq and event_id), for the days whose bronze partition
-- still exists (retention drops old ones); and every bronze event up to the 'silver'
-- watermark is in silver. The first column says what was found, the second is the verdict
-- (SQLCheckOperator fails on a false value and logs the whole row).
WITH kept AS (
    SELECT from_day, to_day FROM maintenance.day_partitions('bronze.github_events')
), not_in_bronze AS (
    SELECT s.event_id FROM silver.github_events_parsed s
     WHERE EXISTS (SELECT 1 FROM kept WHERE s.ingestion_date >= kept.from_day
                                        AND s.ingestion_date < kept.to_day)
       AND NOT EXISTS (SELECT 1 FROM bronze.github_events b
                        WHERE b.ingestion_date = s.ingestion_date
                          AND b.ingestion_seq = s.ingestion_seq AND b.event_id = s.event_id)
), not_in_silver AS (
    SELECT b.event_id FROM bronze.github_events b
     WHERE b.ingestion_seq <= (SELECT last_seq FROM silver.watermarks WHERE layer = 'silver')
       AND NOT EXISTS (SELECT 1 FROM silver.github_events_parsed s WHERE s.event_id = b.event_id)
)
SELECT 'silver events not in bronze: ' || (SELECT count(*) FROM not_in_bronze)
       || coalesce(' (e.g. ' || (SELECT min(event_id::text) FROM not_in_bronze) || ')', '')
       || '; bronze events up to the silver watermark missing from silver: '
       || (SELECT count(*) FROM not_in_silver)
       || coalesce(' (e.g. ' || (SELECT min(event_id::text) FROM not_in_silver) || ')', '')
       AS finding,
       NOT EXISTS (SELECT 1 FROM not_in_bronze) AND NOT EXISTS (SELECT 1 FROM not_in_silver)
       AS silver_matches_bronze;
