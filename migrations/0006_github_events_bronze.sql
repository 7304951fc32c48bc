-- 0006_github_events_bronze: the landing layer of the github_events pipeline (issue 15):
-- bronze.github_events, the raw events as the collector packed them (one row per Avro record
-- of a Kafka message), and the dead letters of the bronze loader. Schemas bronze, silver and
-- gold stand for the original's Iceberg namespaces (silver and gold: 0007).
--
-- Written by stream_loader --pipeline github_events (tasks/lib/loader_events.c): each batch is
-- COPYed into a temp table and moved here by bronze.ingest_batch() in the batch's transaction,
-- together with the consumer offsets (stream_offsets, 0001): exactly once per Kafka record.
-- The collector delivers at least once (a replay after a crash may send an event again), so
-- bronze may hold an event_id twice; silver keeps one row per event_id.
--
-- Applied by `gust db migrate` in one transaction (do not put BEGIN/COMMIT here).

CREATE SCHEMA IF NOT EXISTS bronze;

-- The ingestion sequence: one number per bronze row, increasing in COMMIT order (not only in
-- insert order), so a reader that remembers "everything up to N is processed" never skips a
-- row committed later with a smaller number. bronze.ingest_batch() takes an exclusive
-- transaction-level advisory lock before it draws numbers, so loaders take turns for the
-- duration of one INSERT ... SELECT and a number drawn later always commits later.
CREATE SEQUENCE bronze.github_events_seq AS bigint;

CREATE TABLE bronze.github_events (
    ingestion_date   date NOT NULL,        -- the partition key: UTC day of ingested_at
    ingested_at      timestamptz NOT NULL, -- when the loader's transaction stored the row
    ingestion_seq    bigint NOT NULL,      -- see bronze.github_events_seq
    event_id         uuid NOT NULL,        -- the collector's id for the event (not unique here)
    id               text NOT NULL,        -- GitHub's own event id
    type             text NOT NULL,        -- PushEvent, PullRequestEvent, ...
    actor_id         bigint,
    actor_login      text,
    actor_gravatar_id text,
    actor_url        text,
    actor_avatar_url text,
    repo_id          bigint,
    repo_name        text,
    repo_url         text,
    payload          jsonb,                -- the event's payload object; NULL when it had none
    public           boolean,
    created_at       timestamptz,          -- the event's own time (GitHub's created_at)
    source_topic     text NOT NULL,
    source_partition integer NOT NULL,
    source_offset    bigint NOT NULL,
    record_index     integer NOT NULL,     -- the record's place in its Avro container, from 0
    PRIMARY KEY (ingestion_date, ingestion_seq)
) PARTITION BY RANGE (ingestion_date);

CREATE INDEX github_events_seq_idx ON bronze.github_events (ingestion_seq);
CREATE INDEX github_events_event_id_idx ON bronze.github_events (event_id);

-- One partition per UTC day, named github_events_YYYYMMDD. Created ahead of time by the
-- maintenance DAGs and, should they not have run, by ingest_batch itself.
CREATE FUNCTION bronze.ensure_partition(day date) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    name text := 'github_events_' || to_char(day, 'YYYYMMDD');
BEGIN
    IF to_regclass('bronze.' || name) IS NULL THEN
        EXECUTE format('CREATE TABLE IF NOT EXISTS bronze.%I PARTITION OF bronze.github_events'
                       ' FOR VALUES FROM (%L) TO (%L)', name, day, day + 1);
    END IF;
END $$;

-- The loader's batch (temp table github_events_batch, made by the loader's prepare statement)
-- -> bronze.github_events, numbered in commit order. Returns the rows stored.
CREATE FUNCTION bronze.ingest_batch() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    today date := (now() AT TIME ZONE 'UTC')::date;
    n bigint;
BEGIN
    -- One key for "bronze ingestion", taken by nothing else.
    PERFORM pg_advisory_xact_lock(7426620160726571269);
    PERFORM bronze.ensure_partition(today);
    INSERT INTO bronze.github_events
        (ingestion_date, ingested_at, ingestion_seq, event_id, id, type, actor_id, actor_login,
         actor_gravatar_id, actor_url, actor_avatar_url, repo_id, repo_name, repo_url, payload,
         public, created_at, source_topic, source_partition, source_offset, record_index)
    SELECT today, now(), nextval('bronze.github_events_seq'), event_id, id, type, actor_id,
           actor_login, actor_gravatar_id, actor_url, actor_avatar_url, repo_id, repo_name,
           repo_url, payload, public, created_at, source_topic, source_partition,
           source_offset, record_index
      FROM (SELECT * FROM github_events_batch ORDER BY seq) b;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- Messages or records the bronze loader refused: a message that is not an Avro container, a
-- record that does not match the GitHubEvent schema (the reason names the record's index in
-- its container, from 0); payload is the whole message, or the refused record as JSON.
CREATE TABLE bronze.github_events_dead_letters (
    id           bigserial PRIMARY KEY,
    topic        text NOT NULL,
    "partition"  integer NOT NULL,
    "offset"     bigint NOT NULL,
    key          bytea,
    payload      bytea,
    reason       text NOT NULL,     -- e.g. "record 3: actor.id: not a long"
    failed_at    timestamptz NOT NULL DEFAULT now()
);
