-- quality_checks.row_counts_reconcile: what the loader consumed adds up. Every message it read
-- from product_view (the sum of its stored next offsets: the topic starts at offset 0) became
-- a fact, a duplicate of a fact (absorbed by sales_key), or a dead letter, so facts plus dead
-- letters cannot exceed the messages read; each dimension holds exactly the keys its facts use
-- or more (dimension rows are never deleted, warm-up adds products before their first event);
-- and each sales_key is the SHA-256 hex the loader computes (64 lowercase hex digits).
WITH c AS (
    SELECT (SELECT count(*) FROM fact_sales) AS facts,
           (SELECT count(*) FROM product_view_dead_letters) AS dead,
           (SELECT coalesce(sum(next_offset), 0) FROM stream_offsets
             WHERE consumer_group = 'product_view_star' AND topic = 'product_view') AS consumed,
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
