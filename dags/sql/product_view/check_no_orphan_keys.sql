-- quality_checks.no_orphan_keys: every key of fact_sales names a row of its dimension, and
-- every fact's day is in dim_date. The foreign keys of the schema already refuse an orphan;
-- this check makes sure of it on the data (a schema changed by hand, constraints dropped for a
-- bulk load). The first column says what was found, the second is the verdict (SQLCheckOperator
-- fails on a false value and logs the whole row).
WITH orphans AS (
    SELECT 'date' AS dim, count(*) AS n FROM fact_sales f
     WHERE f.full_date IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM dim_date d WHERE d.full_date = f.full_date)
    UNION ALL
    SELECT 'location', count(*) FROM fact_sales f
     WHERE f.ip_key IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM dim_location d WHERE d.ip_key = f.ip_key)
    UNION ALL
    SELECT 'user_agent', count(*) FROM fact_sales f
     WHERE f.user_agent_key IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM dim_user_agent d WHERE d.user_agent_key = f.user_agent_key)
    UNION ALL
    SELECT 'product', count(*) FROM fact_sales f
     WHERE f.product_key IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM dim_product d WHERE d.product_key = f.product_key)
)
SELECT 'facts with a missing dimension row: '
       || string_agg(dim || ' ' || n, ', ' ORDER BY dim) AS finding,
       sum(n) = 0 AS no_orphan_keys
FROM orphans;
