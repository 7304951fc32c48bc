-- quality_checks.row_counts_reconcile: what the loaders consumed adds up. Every message read
-- from product_view (per consumer group the sum of its stored next offsets: the topic starts
-- at offset 0; the group that read most counts, as the DAG's loader and a --follow service may
-- both read it) became a fact, a duplicate of a fact (absorbed by sales_key), or a dead letter
-- (counted once per Kafka position, as two groups each write theirs), so facts plus dead
-- letters cannot exceed the messages read; each dimension holds exactly the keys its facts use
-- or more (dimension rows are never deleted, warm-up adds products before their first event);
-- and each sales_key is the SHA-256 hex the loader computes (64 lowercase hex digits).
WITH c AS (
    SELECT (SELECT count(*) FROM fact_sales) AS facts,
           (SELECT count(DISTINCT (source_partition, source_offset))
              FROM product_view_dead_letters) AS dead,
           (SELECT coalesce(max(n), 0) FROM (SELECT sum(next_offset) AS n FROM stream_offsets
             WHERE topic = 'product_view' GROUP BY consumer_group) g) AS consumed,
           (SELECT count(DISTINCT ip_key) FROM fact_sales) AS fact_ips,
           (SELECT count(*) FROM dim_location) AS dim_ips,
           (SELECT count(DISTINCT user_agent_key) FROM fact_sales) AS fact_uas,
           (SELECT count(*) FROM dim_user_agent) AS dim_uas,
           (SELECT count(*) FROM fact_sales WHERE sales_key !~ '^[0-9a-f]{64}$') AS bad_keys
)
SELECT format('facts %s + dead letters %s <= messages read %s; locations %s used of %s;'
              ' user agents %s used of %s; malformed sales_key %s',
              facts, dead, consumed, fact_ips, dim_ips, fact_uas, dim_uas, bad_keys) AS finding,
       facts + dead <= consumed AND fact_ips <= dim_ips AND fact_uas <= dim_uas AND bad_keys = 0
       AS row_counts_reconcile
FROM c;
