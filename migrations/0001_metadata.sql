-- 0001_metadata: gust's metadata schema, shaped like Airflow's (2.x/3.x) so anyone who knows
-- Airflow can query it: same table names, column names and state strings. Columns Airflow
-- does not have are marked "gust:" and explained.
--
-- Applied by `gust db migrate` in one transaction (do not put BEGIN/COMMIT here). Every
-- state column has a CHECK constraint mirroring the C enum; every timestamp is timestamptz
-- (UTC in, UTC out).

-- DAGs found in the DAG folder. A row outlives its file: is_active turns false when the DAG
-- disappears, is_paused survives reloads.
CREATE TABLE dag (
    dag_id                   varchar(250) PRIMARY KEY,
    is_paused                boolean NOT NULL DEFAULT false,
    is_active                boolean NOT NULL DEFAULT true,
    last_parsed_time         timestamptz,
    fileloc                  text,
    owners                   text,
    description              text,
    -- the schedule as written ("@daily", "0 3 * * *", "1:00:00", NULL for none); Airflow 2
    -- calls it schedule_interval, Airflow 3 timetable_summary.
    schedule_interval        text,
    timetable_description    text,
    -- gust: the IANA zone the schedule is evaluated in (Airflow keeps it in the pickled DAG)
    timezone                 text NOT NULL DEFAULT 'UTC',
    max_active_tasks         integer NOT NULL DEFAULT 16,
    max_active_runs          integer NOT NULL DEFAULT 16,
    has_import_errors        boolean NOT NULL DEFAULT false,
    next_dagrun              timestamptz,
    next_dagrun_data_interval_start timestamptz,
    next_dagrun_data_interval_end   timestamptz,
    next_dagrun_create_after timestamptz
);

CREATE INDEX idx_dag_active_paused ON dag (is_active, is_paused);
CREATE INDEX idx_next_dagrun_create_after ON dag (next_dagrun_create_after);

CREATE TABLE dag_tag (
    name   text NOT NULL, -- Airflow: varchar(100); no length limit here so a long tag never fails a load
    dag_id varchar(250) NOT NULL REFERENCES dag (dag_id) ON DELETE CASCADE,
    PRIMARY KEY (name, dag_id)
);

CREATE INDEX idx_dag_tag_dag_id ON dag_tag (dag_id);

-- One run of a DAG. Airflow 2 calls logical_date execution_date; gust uses Airflow 3's name.
CREATE TABLE dag_run (
    id                       bigserial PRIMARY KEY,
    dag_id                   varchar(250) NOT NULL,
    queued_at                timestamptz,
    logical_date             timestamptz,
    start_date               timestamptz,
    end_date                 timestamptz,
    state                    varchar(50) NOT NULL DEFAULT 'queued'
        CONSTRAINT dag_run_state_check CHECK (state IN ('queued', 'running', 'success', 'failed')),
    run_id                   varchar(250) NOT NULL,
    creating_job_id          bigint,
    external_trigger         boolean NOT NULL DEFAULT false,
    run_type                 varchar(50) NOT NULL
        CONSTRAINT dag_run_run_type_check
        CHECK (run_type IN ('scheduled', 'manual', 'backfill', 'dataset_triggered', 'asset_triggered')),
    -- Airflow 3: who or what triggered it (cli, timetable, operator...); free text here
    triggered_by             varchar(50),
    conf                     jsonb,
    data_interval_start      timestamptz,
    data_interval_end        timestamptz,
    last_scheduling_decision timestamptz,
    -- gust: when a dagrun_timeout will fail this run (NULL: no timeout); set at start
    timeout_at               timestamptz,
    updated_at               timestamptz NOT NULL DEFAULT now(),
    clear_number             integer NOT NULL DEFAULT 0,
    CONSTRAINT dag_run_dag_id_run_id_key UNIQUE (dag_id, run_id),
    CONSTRAINT dag_run_dates_check CHECK (end_date IS NULL OR start_date IS NULL OR end_date >= start_date)
);

-- Airflow has both: runs of a DAG in a state (the scheduler's main question), and at most one
-- run per logical date and DAG for scheduled runs is enforced by the run_id convention.
CREATE INDEX dag_id_state ON dag_run (dag_id, state);
CREATE INDEX idx_dag_run_state ON dag_run (state) WHERE state IN ('queued', 'running');
CREATE INDEX idx_dag_run_dag_id_logical_date ON dag_run (dag_id, logical_date);

-- The current (latest) try of each task of each run. Past tries move to
-- task_instance_history when a new try starts, so a run's history stays readable.
CREATE TABLE task_instance (
    task_id            varchar(250) NOT NULL,
    dag_id             varchar(250) NOT NULL,
    run_id             varchar(250) NOT NULL,
    map_index          integer NOT NULL DEFAULT -1,
    start_date         timestamptz,
    end_date           timestamptz,
    duration           double precision,
    -- NULL is Airflow's "none" (not yet scheduled)
    state              varchar(20)
        CONSTRAINT task_instance_state_check
        CHECK (state IS NULL OR state IN ('scheduled', 'queued', 'running', 'success', 'failed',
                                          'up_for_retry', 'upstream_failed', 'skipped', 'removed')),
    try_number         integer NOT NULL DEFAULT 0 CHECK (try_number >= 0),
    max_tries          integer NOT NULL DEFAULT 0 CHECK (max_tries >= 0),
    hostname           varchar(1000),
    unixname           varchar(1000),
    job_id             bigint,
    pool               varchar(256) NOT NULL DEFAULT 'default_pool',
    pool_slots         integer NOT NULL DEFAULT 1,
    queue              varchar(256) NOT NULL DEFAULT 'default',
    priority_weight    integer NOT NULL DEFAULT 1,
    operator           varchar(1000),
    custom_operator_name varchar(1000),
    queued_dttm        timestamptz,
    queued_by_job_id   bigint,
    pid                integer,
    executor           varchar(1000),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    -- gust: the trigger rule the try was scheduled under (Airflow keeps it in the DAG)
    trigger_rule       varchar(50) NOT NULL DEFAULT 'all_success',
    -- gust: when an up_for_retry task becomes eligible again (Airflow computes it from
    -- end_date and retry_delay on every pass; storing it makes the wait a plain index scan)
    next_retry_at      timestamptz,
    -- gust: the lease of a running try. The worker renews it with last_heartbeat_at; a try
    -- whose lease_until has passed is failed and retried by any live scheduler, and its late
    -- result is refused because try_number no longer matches (the fence).
    last_heartbeat_at  timestamptz,
    lease_until        timestamptz,
    -- gust: how the try ended: exit status (0-255), or the signal that killed it
    exit_code          integer,
    term_signal        integer,
    PRIMARY KEY (dag_id, task_id, run_id, map_index),
    CONSTRAINT task_instance_dag_run_fkey FOREIGN KEY (dag_id, run_id)
        REFERENCES dag_run (dag_id, run_id) ON DELETE CASCADE ON UPDATE CASCADE
);

CREATE INDEX ti_state ON task_instance (state);
CREATE INDEX ti_dag_run ON task_instance (dag_id, run_id);
CREATE INDEX ti_state_lkp ON task_instance (dag_id, task_id, run_id, state);
CREATE INDEX ti_pool ON task_instance (pool, state, priority_weight);
CREATE INDEX ti_job_id ON task_instance (job_id);
-- gust: what a scheduler scans on every pass: due retries and expired leases
CREATE INDEX ti_next_retry ON task_instance (next_retry_at) WHERE state = 'up_for_retry';
CREATE INDEX ti_lease ON task_instance (lease_until) WHERE state = 'running';

-- Every finished try (Airflow 2.10+). One row per (task instance, try_number).
CREATE TABLE task_instance_history (
    id                 bigserial PRIMARY KEY,
    task_id            varchar(250) NOT NULL,
    dag_id             varchar(250) NOT NULL,
    run_id             varchar(250) NOT NULL,
    map_index          integer NOT NULL DEFAULT -1,
    try_number         integer NOT NULL,
    start_date         timestamptz,
    end_date           timestamptz,
    duration           double precision,
    state              varchar(20)
        CONSTRAINT task_instance_history_state_check
        CHECK (state IS NULL OR state IN ('scheduled', 'queued', 'running', 'success', 'failed',
                                          'up_for_retry', 'upstream_failed', 'skipped', 'removed')),
    max_tries          integer,
    hostname           varchar(1000),
    unixname           varchar(1000),
    job_id             bigint,
    pool               varchar(256),
    pool_slots         integer,
    queue              varchar(256),
    priority_weight    integer,
    operator           varchar(1000),
    queued_dttm        timestamptz,
    pid                integer,
    executor           varchar(1000),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    trigger_rule       varchar(50),  -- gust: see task_instance
    exit_code          integer,      -- gust: see task_instance
    term_signal        integer,      -- gust: see task_instance
    CONSTRAINT task_instance_history_dtrt_uq UNIQUE (dag_id, task_id, run_id, map_index, try_number),
    CONSTRAINT task_instance_history_ti_fkey FOREIGN KEY (dag_id, task_id, run_id, map_index)
        REFERENCES task_instance (dag_id, task_id, run_id, map_index) ON DELETE CASCADE ON UPDATE CASCADE
);

-- XCom values as JSON (Airflow 3 stores JSONB too; Airflow 2 pickled or JSON bytes).
CREATE TABLE xcom (
    dag_run_id bigint NOT NULL REFERENCES dag_run (id) ON DELETE CASCADE,
    task_id    varchar(250) NOT NULL,
    map_index  integer NOT NULL DEFAULT -1,
    key        varchar(512) NOT NULL,
    dag_id     varchar(250) NOT NULL,
    run_id     varchar(250) NOT NULL,
    value      jsonb,
    timestamp  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dag_run_id, task_id, map_index, key)
);

CREATE INDEX idx_xcom_key ON xcom (key);
CREATE INDEX idx_xcom_task_instance ON xcom (dag_id, task_id, run_id, map_index);

-- Errors found while loading DAG files: one row per file, replaced on every load.
CREATE TABLE import_error (
    id         bigserial PRIMARY KEY,
    timestamp  timestamptz NOT NULL DEFAULT now(),
    filename   text NOT NULL,
    stacktrace text NOT NULL
);

CREATE INDEX idx_import_error_filename ON import_error (filename);

-- Audit events (trigger, pause, clear, state changes made by a person or the CLI).
CREATE TABLE log (
    id          bigserial PRIMARY KEY,
    dttm        timestamptz NOT NULL DEFAULT now(),
    dag_id      varchar(250),
    task_id     varchar(250),
    map_index   integer,
    event       varchar(60) NOT NULL,
    logical_date timestamptz,
    run_id      varchar(250),
    owner       varchar(500),
    extra       text,
    try_number  integer
);

CREATE INDEX idx_log_dttm ON log (dttm);
CREATE INDEX idx_log_event ON log (event);
CREATE INDEX idx_log_dag ON log (dag_id, dttm);

-- Schedulers and workers: one row per process, kept alive by latest_heartbeat. job_type
-- uses Airflow's class names; WorkerJob is gust's `gust worker`.
CREATE TABLE job (
    id               bigserial PRIMARY KEY,
    dag_id           varchar(250),
    state            varchar(20) NOT NULL DEFAULT 'running'
        CONSTRAINT job_state_check CHECK (state IN ('running', 'success', 'failed', 'restarting')),
    job_type         varchar(30) NOT NULL
        CONSTRAINT job_job_type_check
        CHECK (job_type IN ('SchedulerJob', 'LocalTaskJob', 'WorkerJob', 'BackfillJob',
                            'TriggererJob', 'DagProcessorJob')),
    start_date       timestamptz NOT NULL DEFAULT now(),
    end_date         timestamptz,
    latest_heartbeat timestamptz NOT NULL DEFAULT now(),
    executor_class   varchar(500),
    hostname         varchar(500),
    unixname         varchar(1000),
    pid              integer
);

CREATE INDEX job_type_heart ON job (job_type, latest_heartbeat);
CREATE INDEX idx_job_state_heartbeat ON job (state, latest_heartbeat);
CREATE INDEX idx_job_dag_id ON job (dag_id);

CREATE TABLE variable (
    id           bigserial PRIMARY KEY,
    key          varchar(250) NOT NULL CONSTRAINT variable_key_uq UNIQUE,
    val          text,
    description  text,
    is_encrypted boolean NOT NULL DEFAULT false
);

-- gust: crawler watermarks (the DAV drug registry crawler and friends). last_crawl_time is
-- advanced only after every page was fetched and every record delivered.
CREATE TABLE crawl_state (
    job_name        varchar(250) PRIMARY KEY,
    last_crawl_time timestamptz,
    details         jsonb NOT NULL DEFAULT '{}'::jsonb,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- gust: Kafka consumer offsets of the loaders, written in the same transaction as the rows
-- they loaded (exactly-once into PostgreSQL). next_offset is the first offset not yet loaded.
CREATE TABLE stream_offsets (
    consumer_group varchar(250) NOT NULL,
    topic          varchar(250) NOT NULL,
    "partition"    integer NOT NULL CHECK ("partition" >= 0),
    next_offset    bigint NOT NULL CHECK (next_offset >= 0),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic, "partition")
);
