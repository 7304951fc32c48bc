-- 0008_product_view: the star schema of the product_view pipeline (docs/pipelines.md): a web
-- shop's behaviour events (topic product_view) -> fact_sales, one row per event, with the
-- dimensions dim_date, dim_product, dim_location and dim_user_agent. The original's tables and
-- column names, with proper types and foreign keys from the fact to every dimension (the
-- original had none): a fact row never points at a missing dimension row.
--
-- Written by stream_loader --pipeline product_view (tasks/lib/loader_pv.c): each batch is
-- COPYed into the temp table product_view_batch and moved here by product_view_ingest_batch()
-- in the batch's transaction, together with the consumer offsets (stream_offsets, 0001):
-- dimension rows first, then the facts, so the foreign keys hold at every commit.
--
-- Keys (as the original computed them): lowercase hex SHA-256 of the UTF-8 text; sales_key of
-- id || coalesce(product_id, ''), ip_key of ip, user_agent_key of user_agent; product_key is
-- the product id itself. full_date and full_time are time_stamp (epoch seconds) in UTC.
--
-- Applied by `gust db migrate` in one transaction (do not put BEGIN/COMMIT here).

CREATE TABLE dim_date (
    full_date             date PRIMARY KEY,
    day_of_week           smallint NOT NULL CHECK (day_of_week BETWEEN 1 AND 7), -- Monday = 1
    day_of_week_short     text NOT NULL,     -- Mon .. Sun
    is_weekday_or_weekend text NOT NULL CHECK (is_weekday_or_weekend IN ('Weekday', 'Weekend')),
    day_of_month          smallint NOT NULL,
    year_month            text NOT NULL,     -- 2026-12
    month                 smallint NOT NULL,
    day_of_year           smallint NOT NULL,
    week_of_year          smallint NOT NULL, -- ISO 8601 week
    quarter_number        smallint NOT NULL,
    year                  integer NOT NULL
);

-- A product. A row may first be a placeholder (only the key: an event named a product the
-- loader knew nothing else of); it is filled in when an event carries the product's URL or the
-- catalogue (product_view_dims) names it, and a known value is never overwritten by a NULL.
CREATE TABLE dim_product (
    product_key   text PRIMARY KEY,
    name          text,  -- from the product catalogue, when one is loaded
    current_url   text,  -- the product page: the event's current_url without query or fragment
    language_code text   -- from that URL: its locale path segment, else its country-code TLD
);

-- Where an IP address is. Country from Debian's geoip-database (IPv4 and IPv6), region and city
-- from a MaxMind-format city database when the loader has one (--geoip-city), else NULL.
CREATE TABLE dim_location (
    ip_key       text PRIMARY KEY,
    ip_address   text NOT NULL,
    country_code text,
    country_name text,
    region_name  text,
    city_name    text
);

-- Browser and OS families with major versions where known ("Chrome 83", "Android 10"), from
-- uap-core's regexes.yaml (the ua-parser project's data).
CREATE TABLE dim_user_agent (
    user_agent_key text PRIMARY KEY,
    user_agent     text NOT NULL,
    browser        text,
    os             text
);

CREATE TABLE fact_sales (
    sales_key           text PRIMARY KEY,
    full_date           date REFERENCES dim_date,
    full_time           time,
    ip_key              text REFERENCES dim_location,
    user_agent_key      text REFERENCES dim_user_agent,
    product_key         text REFERENCES dim_product,
    referrer_url        text,  -- the referrer's host only
    collection          text,  -- view_product_detail, select_product_option, ...
    option              jsonb, -- the event's option array as sent
    email_address       text,
    resolution          text,
    user_id_db          text,
    device_id           text,
    api_version         text,
    store_id            text,
    local_time          timestamp, -- the shopper's wall clock as sent (yyyy-MM-dd HH:mm:ss)
    show_recommendation text,
    recommendation      text,      -- real data carries false here: kept as the text 'false'
    utm_source          text,
    utm_medium          text
);

CREATE INDEX fact_sales_date_idx ON fact_sales (full_date);
CREATE INDEX fact_sales_product_idx ON fact_sales (product_key);
CREATE INDEX fact_sales_ip_idx ON fact_sales (ip_key);
CREATE INDEX fact_sales_ua_idx ON fact_sales (user_agent_key);

-- Refused messages: the raw bytes and why (not JSON, no id, a time_stamp that is not a number,
-- an option that is not an array, ...), with where they were in Kafka.
CREATE TABLE product_view_dead_letters (
    id               bigserial PRIMARY KEY,
    source_topic     text NOT NULL,
    source_partition integer NOT NULL,
    source_offset    bigint NOT NULL,
    message_key      bytea,
    payload          bytea,
    reason           text NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now()
);

-- Make dim_date hold every day from first to last (both included); days already there are left
-- alone. The warm-up task calls it for a configured range, the loader for each batch's days.
CREATE FUNCTION dim_date_fill(first date, last date) RETURNS integer
LANGUAGE sql AS $$
    WITH added AS (
        INSERT INTO dim_date
        SELECT d, extract(isodow FROM d), to_char(d, 'Dy'),
               CASE WHEN extract(isodow FROM d) >= 6 THEN 'Weekend' ELSE 'Weekday' END,
               extract(day FROM d), to_char(d, 'YYYY-MM'), extract(month FROM d),
               extract(doy FROM d), extract(week FROM d), extract(quarter FROM d),
               extract(year FROM d)
        FROM generate_series(first, last, interval '1 day') AS g(t), LATERAL (SELECT t::date) AS x(d)
        ON CONFLICT (full_date) DO NOTHING
        RETURNING 1)
    SELECT count(*)::integer FROM added
$$;

-- Move the batch in product_view_batch (the loader's temp table, one row per valid event; the
-- dimension attributes are filled only where the loader wants a dimension row written or
-- improved: the *_new flags) into the star schema. Duplicates by sales_key, within the batch or
-- with earlier ones, are absorbed: the first stored wins.
CREATE FUNCTION product_view_ingest_batch() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    lo date;
    hi date;
BEGIN
    SELECT min(full_date), max(full_date) INTO lo, hi FROM product_view_batch;
    IF lo IS NOT NULL AND (SELECT count(*) FROM dim_date WHERE full_date BETWEEN lo AND hi)
                          < hi - lo + 1 THEN
        PERFORM dim_date_fill(lo, hi);
    END IF;

    INSERT INTO dim_user_agent (user_agent_key, user_agent, browser, os)
    SELECT DISTINCT ON (user_agent_key) user_agent_key, user_agent, browser, os
    FROM product_view_batch WHERE ua_new
    ORDER BY user_agent_key
    ON CONFLICT (user_agent_key) DO UPDATE
        SET browser = coalesce(EXCLUDED.browser, dim_user_agent.browser),
            os = coalesce(EXCLUDED.os, dim_user_agent.os);

    INSERT INTO dim_location AS d (ip_key, ip_address, country_code, country_name, region_name,
                                   city_name)
    SELECT DISTINCT ON (ip_key) ip_key, ip_address, country_code, country_name, region_name,
           city_name
    FROM product_view_batch WHERE location_new
    ORDER BY ip_key
    ON CONFLICT (ip_key) DO UPDATE
        SET country_code = coalesce(EXCLUDED.country_code, d.country_code),
            country_name = coalesce(EXCLUDED.country_name, d.country_name),
            region_name = coalesce(EXCLUDED.region_name, d.region_name),
            city_name = coalesce(EXCLUDED.city_name, d.city_name);

    -- per product the batch's newest URL (by the event's time, then Kafka position) not NULL
    INSERT INTO dim_product AS d (product_key, current_url, language_code)
    SELECT product_key,
           (array_agg(product_url ORDER BY full_date DESC NULLS LAST, full_time DESC NULLS LAST,
                                          source_offset DESC)
                FILTER (WHERE product_url IS NOT NULL))[1],
           (array_agg(product_language ORDER BY full_date DESC NULLS LAST,
                                               full_time DESC NULLS LAST, source_offset DESC)
                FILTER (WHERE product_language IS NOT NULL))[1]
    FROM product_view_batch WHERE product_new
    GROUP BY product_key
    ON CONFLICT (product_key) DO UPDATE
        SET current_url = coalesce(EXCLUDED.current_url, d.current_url),
            language_code = coalesce(EXCLUDED.language_code, d.language_code);

    INSERT INTO fact_sales (sales_key, full_date, full_time, ip_key, user_agent_key, product_key,
                            referrer_url, collection, option, email_address, resolution,
                            user_id_db, device_id, api_version, store_id, local_time,
                            show_recommendation, recommendation, utm_source, utm_medium)
    SELECT sales_key, full_date, full_time, ip_key, user_agent_key, product_key, referrer_url,
           collection, option, email_address, resolution, user_id_db, device_id, api_version,
           store_id, local_time, show_recommendation, recommendation, utm_source, utm_medium
    FROM product_view_batch
    ORDER BY source_partition, source_offset
    ON CONFLICT (sales_key) DO NOTHING;
END
$$;
