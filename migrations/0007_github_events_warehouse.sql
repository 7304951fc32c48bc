-- 0007_github_events_warehouse: the silver and gold layers of the github_events pipeline and
-- the maintenance functions of its tables. Bronze (0006) holds the raw events as delivered,
-- duplicates included; silver holds one parsed row per event_id; gold holds the aggregates.
-- The SQL that fills silver and gold lives with the DAG (dags/sql/github_events/), as dbt
-- models live with their project; this file holds the tables, the watermarks and the
-- functions the maintenance DAGs call (docs/pipelines.md, "github_events: silver, gold and
-- maintenance").
--
-- One clock: bronze.github_events.ingestion_seq, which increases in commit order. silver
-- remembers the last bronze seq it processed, gold the last silver row (by the same seq) it
-- aggregated; neither compares times, so a late or clock-skewed event is never skipped.
--
-- Silver is not partitioned. Its key is event_id alone (the at-least-once delivery of the
-- collector repeats events, and silver is where they become one row); PostgreSQL requires
-- every unique index of a partitioned table to contain the partition key, so a silver
-- partitioned by event day could only promise one row per (event_id, day), and an event
-- whose copies disagree on the day, or have none, would slip through. Silver keeps every
-- event (no retention): gold is recomputed from it by day, and a day trimmed from silver
-- would be recomputed from a part of its events when a late event for it arrives. Bronze,
-- the raw copy of what silver already holds, is where retention applies.
--
-- Applied by `gust db migrate` in one transaction (do not put BEGIN/COMMIT here).

CREATE SCHEMA IF NOT EXISTS silver;
CREATE SCHEMA IF NOT EXISTS gold;
CREATE SCHEMA IF NOT EXISTS maintenance;

-- How far each layer got, as a bronze ingestion_seq: 'silver' is the last bronze row read
-- into silver, 'gold' the last silver row (by its bronze seq) aggregated into gold. Each is
-- moved in the same transaction as the rows it covers, so a rerun starts where the last
-- commit ended and a failed run moved nothing.
CREATE TABLE silver.watermarks (
    layer      text PRIMARY KEY CHECK (layer IN ('silver', 'gold')),
    last_seq   bigint NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO silver.watermarks (layer) VALUES ('silver'), ('gold');

-- Typed reads of a payload value that never fail: a value of another JSON type, or out of
-- range, is NULL (a malformed event must not stop the pipeline; the quality checks and the
-- bronze row keep what it was).
CREATE FUNCTION silver.jsonb_text(v jsonb) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN jsonb_typeof(v) = 'string' THEN v #>> '{}' END
$$;

CREATE FUNCTION silver.jsonb_bigint(v jsonb) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN jsonb_typeof(v) = 'number' AND (v #>> '{}') ~ '^-?[0-9]{1,18}$'
                THEN (v #>> '{}')::bigint END
$$;

CREATE FUNCTION silver.jsonb_bool(v jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN jsonb_typeof(v) = 'boolean' THEN (v #>> '{}')::boolean END
$$;

-- An ISO-8601 time as GitHub writes it ("2026-01-02T03:04:05Z"); anything else is NULL.
CREATE FUNCTION silver.jsonb_time(v jsonb) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF jsonb_typeof(v) <> 'string' OR (v #>> '{}') !~ '^\d{4}-\d\d-\d\d[T ]\d\d:\d\d' THEN
        RETURN NULL;
    END IF;
    RETURN (v #>> '{}')::timestamptz;
EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
    RETURN NULL;
END $$;

-- One row per event_id: the first bronze copy of the event (lowest ingestion_seq), parsed.
-- Payload fields are NULL where the event's type does not have them.
CREATE TABLE silver.github_events_parsed (
    event_id        uuid PRIMARY KEY,
    id              text NOT NULL,          -- GitHub's event id
    type            text NOT NULL,
    actor_id        bigint,
    actor_login     text,
    repo_id         bigint,
    repo_name       text,
    public          boolean,
    created_at      timestamptz,            -- the event's own time; gold's days and hours
    action          text,                   -- payload.action (PullRequestEvent, IssuesEvent...)
    ref             text,                   -- Push/Create/DeleteEvent
    ref_type        text,                   -- Create/DeleteEvent: branch, tag, repository
    size            integer,                -- PushEvent: commits in the push
    distinct_size   integer,                -- PushEvent: commits new to the repository
    head            text,                   -- PushEvent: the SHA after the push
    pr_id           bigint,                 -- PullRequestEvent: payload.pull_request.*
    pr_number       integer,
    pr_state        text,
    pr_title        text,
    pr_merged       boolean,
    pr_created_at   timestamptz,
    pr_merged_at    timestamptz,
    issue_number    integer,                -- IssuesEvent, IssueCommentEvent: payload.issue.*
    issue_title     text,
    issue_state     text,
    -- the bronze row this came from: (ingestion_date, ingestion_seq) is its primary key
    ingestion_date  date NOT NULL,
    ingestion_seq   bigint NOT NULL UNIQUE,
    ingested_at     timestamptz NOT NULL,
    processed_at    timestamptz NOT NULL DEFAULT now()
);
-- gold's recompute by day and the weekly CLUSTER (time order) use this one.
CREATE INDEX github_events_parsed_created_idx ON silver.github_events_parsed (created_at);
CREATE INDEX github_events_parsed_type_idx ON silver.github_events_parsed (type, created_at);

-- Gold: aggregates by UTC day or hour of the event's created_at (events without a created_at
-- have no day and are in no gold table). Recomputed for every day that new silver rows touch.
CREATE FUNCTION gold.utc_day(t timestamptz) RETURNS date
LANGUAGE sql IMMUTABLE AS $$ SELECT (t AT TIME ZONE 'UTC')::date $$;

CREATE FUNCTION gold.utc_hour(t timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$ SELECT date_trunc('hour', t AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' $$;

CREATE TABLE gold.hourly_events_by_type (
    hour    timestamptz NOT NULL,       -- the start of the UTC hour
    type    text NOT NULL,
    events  bigint NOT NULL,
    PRIMARY KEY (hour, type)
);

-- Per repository and day; events without a repo_id are left out.
CREATE TABLE gold.daily_repo_activity (
    day            date NOT NULL,
    repo_id        bigint NOT NULL,
    repo_name      text,                -- the latest name seen that day (repos get renamed)
    events         bigint NOT NULL,
    pushes         bigint NOT NULL,     -- PushEvents
    commits        bigint NOT NULL,     -- sum of their size
    prs_opened     bigint NOT NULL,     -- PullRequestEvent, action opened
    prs_merged     bigint NOT NULL,     -- PullRequestEvent, action closed, merged
    issues_opened  bigint NOT NULL,     -- IssuesEvent, action opened
    PRIMARY KEY (day, repo_id)
);

-- Per actor and day; events without an actor_id are left out.
CREATE TABLE gold.daily_actor_activity (
    day            date NOT NULL,
    actor_id       bigint NOT NULL,
    actor_login    text,                -- the latest login seen that day
    events         bigint NOT NULL,
    pushes         bigint NOT NULL,
    commits        bigint NOT NULL,
    prs_opened     bigint NOT NULL,
    prs_merged     bigint NOT NULL,
    issues_opened  bigint NOT NULL,
    repos          bigint NOT NULL,     -- distinct repositories the actor touched
    PRIMARY KEY (day, actor_id)
);

-- Per day: pull requests opened and merged (by the day of the event that says so), and the
-- time from the pull request's creation to its merge, for merges where both times are known.
CREATE TABLE gold.daily_pr_merge_stats (
    day                    date PRIMARY KEY,
    prs_opened             bigint NOT NULL,
    prs_merged             bigint NOT NULL,
    merges_timed           bigint NOT NULL,  -- merges with pr_created_at and pr_merged_at
    avg_hours_to_merge     numeric(12, 2),   -- NULL when no merge was timed
    median_hours_to_merge  numeric(12, 2)
);

-- Maintenance: which closed bronze partitions were compacted (so each is done once).
CREATE TABLE maintenance.compacted_partitions (
    partition_name text PRIMARY KEY,     -- schema-qualified
    rows           bigint NOT NULL,
    compacted_at   timestamptz NOT NULL DEFAULT now()
);

-- The day partitions of a table partitioned by range on a date, with their bounds (a DEFAULT
-- partition, or a bound that is not one date to another, is not listed).
CREATE FUNCTION maintenance.day_partitions(parent regclass)
RETURNS TABLE (partition regclass, from_day date, to_day date)
LANGUAGE sql STABLE AS $$
    SELECT c.oid::regclass, m[1]::date, m[2]::date
      FROM pg_inherits i
      JOIN pg_class c ON c.oid = i.inhrelid
     CROSS JOIN LATERAL regexp_match(pg_get_expr(c.relpartbound, c.oid),
                                     '^FOR VALUES FROM \(''([0-9-]+)''\) TO \(''([0-9-]+)''\)$') m
     WHERE i.inhparent = parent AND m IS NOT NULL
     ORDER BY 2
$$;

-- Creates the bronze partitions of today .. today + days_ahead that are missing (through
-- bronze.ensure_partition, as the loader would); returns the names of those it created.
CREATE FUNCTION maintenance.create_bronze_partitions(days_ahead integer,
                                                     today date DEFAULT (now() AT TIME ZONE 'UTC')::date)
RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    day date;
    name text;
BEGIN
    IF days_ahead IS NULL OR days_ahead < 0 OR days_ahead > 366 THEN
        RAISE EXCEPTION 'create_bronze_partitions: days_ahead must be 0..366, not %', days_ahead;
    END IF;
    FOR day IN SELECT d::date FROM generate_series(today, today + days_ahead, interval '1 day') d LOOP
        name := 'github_events_' || to_char(day, 'YYYYMMDD');
        CONTINUE WHEN to_regclass('bronze.' || name) IS NOT NULL;
        PERFORM bronze.ensure_partition(day);
        RETURN NEXT 'bronze.' || name;
    END LOOP;
END $$;

-- Compaction of the closed bronze partitions (every day before today) not compacted yet:
-- CLUSTER on the partition's ingestion_seq index (rows rewritten in ingestion order, dead
-- space given back) then ANALYZE. Returns each partition compacted and its rows. The loader
-- writes only today's partition, so a closed one does not change after its compaction, and
-- CLUSTER's ACCESS EXCLUSIVE lock on it blocks no writer.
CREATE FUNCTION maintenance.compact_bronze_partitions(today date DEFAULT (now() AT TIME ZONE 'UTC')::date)
RETURNS TABLE (partition_name text, rows bigint)
LANGUAGE plpgsql AS $$
DECLARE
    p record;
    idx text;
BEGIN
    FOR p IN SELECT d.partition, d.partition::text AS name
               FROM maintenance.day_partitions('bronze.github_events') d
              WHERE d.to_day <= today
                AND NOT EXISTS (SELECT 1 FROM maintenance.compacted_partitions c
                                 WHERE c.partition_name = d.partition::text)
              ORDER BY d.from_day LOOP
        -- the partition's own index attached to bronze.github_events_seq_idx
        SELECT quote_ident(ic.relname) INTO idx
          FROM pg_inherits ii JOIN pg_class ic ON ic.oid = ii.inhrelid
          JOIN pg_index x ON x.indexrelid = ic.oid
         WHERE ii.inhparent = 'bronze.github_events_seq_idx'::regclass AND x.indrelid = p.partition;
        IF idx IS NULL THEN
            RAISE EXCEPTION 'compact_bronze_partitions: % has no ingestion_seq index', p.name;
        END IF;
        EXECUTE format('CLUSTER %s USING %s', p.partition, idx);
        EXECUTE format('ANALYZE %s', p.partition);
        partition_name := p.name;
        EXECUTE format('SELECT count(*) FROM %s', p.partition) INTO rows;
        INSERT INTO maintenance.compacted_partitions (partition_name, rows) VALUES (p.name, rows);
        RETURN NEXT;
    END LOOP;
END $$;

-- Retention: detaches and drops the bronze partitions whose every day is more than keep_days
-- before today; nothing else is touched. Returns one row per partition past the age: outcome
-- 'dropped', or 'kept: N rows not in silver yet' for a partition holding rows that silver has
-- not read (past the 'silver' watermark), which stays: a stopped pipeline must not lose
-- events to retention. (A row rather than a NOTICE, so that the task's XCom and log show it.)
CREATE FUNCTION maintenance.drop_bronze_partitions(keep_days integer,
                                                   today date DEFAULT (now() AT TIME ZONE 'UTC')::date)
RETURNS TABLE (partition_name text, outcome text)
LANGUAGE plpgsql AS $$
DECLARE
    p record;
    wm bigint;
    unread bigint;
BEGIN
    IF keep_days IS NULL OR keep_days < 1 THEN
        RAISE EXCEPTION 'drop_bronze_partitions: keep_days must be at least 1, not %', keep_days;
    END IF;
    SELECT last_seq INTO STRICT wm FROM silver.watermarks WHERE layer = 'silver';
    FOR p IN SELECT d.partition, d.partition::text AS name
               FROM maintenance.day_partitions('bronze.github_events') d
              WHERE d.to_day <= today - keep_days
              ORDER BY d.from_day LOOP
        partition_name := p.name;
        EXECUTE format('SELECT count(*) FROM %s WHERE ingestion_seq > $1', p.partition)
           INTO unread USING wm;
        IF unread > 0 THEN
            outcome := format('kept: %s rows not in silver yet', unread);
        ELSE
            EXECUTE format('ALTER TABLE bronze.github_events DETACH PARTITION %s', p.partition);
            EXECUTE format('DROP TABLE %s', p.partition);
            DELETE FROM maintenance.compacted_partitions c WHERE c.partition_name = p.name;
            outcome := 'dropped';
        END IF;
        RETURN NEXT;
    END LOOP;
END $$;
