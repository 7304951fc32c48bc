-- 0003_users_wiki: the tables of the user_automation and wiki_data_dag pipelines (issue 6):
-- created_users (randomuser.me users, cleaned, one row per email) and wiki_recent_changes
-- (MediaWiki recent changes, one row per rcid), each with the dead letters of its loader.
-- (Consumer offsets live in stream_offsets, 0001.)
--
-- Dead letters: one table per pipeline, the same shape as pharmaceutical_dead_letters (0002),
-- rather than one shared table with a pipeline column: the three pipelines stay alike (each
-- loader writes <target>_dead_letters), each can be inspected, replayed, purged or granted on
-- its own without a filter, and a shared table would still leave the drug pipeline apart.
--
-- The loader (tasks/lib/loader_users.c, loader_wiki.c) COPYs each batch into a temp table and
-- merges it here with INSERT ... ON CONFLICT in the batch's transaction, together with the
-- consumer offsets: exactly once, and a duplicate never becomes a second row.
--
-- Applied by `gust db migrate` in one transaction (do not put BEGIN/COMMIT here).

-- One row per email, the original's cleaned users table. The loader's cleaning rules, as the
-- original had them: first_name and last_name initcap(trim); gender and email lower(trim);
-- username, address and postal_code trimmed; phone digits only; dob and registered_date as
-- timestamptz. A record without an email or a first name, or whose email does not match the
-- rule below, is a dead letter. A later record with the same email replaces the row
-- (updated_at says when). Blank values are NULL.
CREATE TABLE created_users (
    -- The business key: lower-cased and trimmed, so Foo@X.com and " foo@x.com" are one user.
    -- The CHECK is the loader's own rule (a record failing it never gets here).
    email            text PRIMARY KEY
                     CHECK (email = lower(email) AND email ~ '^[A-Za-z0-9+_.-]+@[A-Za-z0-9.-]+$'),
    -- randomuser's login.uuid, the message key. Not a key here: the original deduplicated by
    -- email, and randomuser gives the same person a new uuid on every call.
    id               uuid,
    first_name       text NOT NULL CHECK (first_name <> ''),
    last_name        text,
    gender           text,
    address          text,        -- "number street, city, state, country"
    postal_code      text,        -- text: "T5K 2J9", "01234" (numbers would lose both)
    username         text,
    dob              timestamptz, -- date of birth (randomuser sends a full UTC date-time)
    registered_date  timestamptz,
    phone            text CHECK (phone ~ '^[0-9]+$'), -- digits only; NULL when it had none
    picture          text,        -- URL of the medium picture
    -- gust: the Kafka message the row's current version came from (not source fields)
    source_topic     text,
    source_partition integer,
    source_offset    bigint,
    loaded_at        timestamptz NOT NULL DEFAULT now(), -- first stored
    updated_at       timestamptz NOT NULL DEFAULT now()  -- last replaced by a later record
);

-- users_created messages the loader refused (bad JSON, no email or first name, an email not
-- matching the rule, a bad date), kept with their coordinates, raw bytes and reason.
CREATE TABLE created_users_dead_letters (
    id          bigserial PRIMARY KEY,
    topic       text NOT NULL,
    "partition" integer NOT NULL,
    "offset"    bigint NOT NULL,     -- quoted: OFFSET is a reserved word
    key         bytea,               -- the message key as sent (the user's id)
    payload     bytea,               -- bytea: a payload that is not UTF-8 is kept as well
    reason      text NOT NULL,       -- e.g. "email 'x@' does not match ^...$; first_name missing"
    failed_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX idx_created_users_dead_letters_msg
    ON created_users_dead_letters (topic, "partition", "offset");

-- One row per recent change (MediaWiki's rc_id). A change never changes, so a duplicate (the
-- crawl's overlap, a replay) is ignored and the first version stays. Hidden users and log
-- rows are valid changes with NULLs.
CREATE TABLE wiki_recent_changes (
    rcid            bigint PRIMARY KEY CHECK (rcid > 0),
    title           text,
    "time"          timestamptz NOT NULL, -- the change's timestamp (MediaWiki sends UTC)
    -- NULL for a hidden user (userhidden). MediaWiki's limit is 255 bytes ($wgMaxNameChars;
    -- actor_name is varbinary(255)); varchar counts characters, so 255 holds every real name.
    username        varchar(255),
    change_type     text,   -- edit, new, log, categorize, external (no CHECK: MediaWiki adds types)
    page_id         bigint, -- pageId; NULL or 0 for some log rows
    oldsize         bigint, -- sizes in bytes; NULL for log rows
    newsize         bigint,
    revision_id     bigint, -- revisionId; NULL for log rows
    old_revision_id bigint, -- old_revisionId; 0 for a new page
    -- gust: the Kafka message the row came from (not source fields)
    source_topic     text,
    source_partition integer,
    source_offset    bigint,
    loaded_at       timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX idx_wiki_recent_changes_time ON wiki_recent_changes ("time");

-- recent_changes messages the loader refused (bad JSON, no rcid or time, a bad timestamp, a
-- user name over 255 bytes), kept as for created_users.
CREATE TABLE wiki_recent_changes_dead_letters (
    id          bigserial PRIMARY KEY,
    topic       text NOT NULL,
    "partition" integer NOT NULL,
    "offset"    bigint NOT NULL,
    key         bytea,               -- the message key as sent (the rcid)
    payload     bytea,
    reason      text NOT NULL,
    failed_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX idx_wiki_recent_changes_dead_letters_msg
    ON wiki_recent_changes_dead_letters (topic, "partition", "offset");
