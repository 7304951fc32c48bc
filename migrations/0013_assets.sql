-- 0013_assets: data-aware scheduling (Airflow 3's assets, 2.4-2.10's datasets), with Airflow 3's
-- table names and meanings (docs/dag-files.md, "Assets").
--
-- A task that succeeds records one asset_event per outlet and, in the same statement, one
-- asset_dag_run_queue row per DAG scheduled on that asset (store_ti_finish). The scheduler
-- creates a consumer's run when its condition over its queued assets holds, links the events
-- that triggered it (dagrun_asset_event) and deletes its queue rows, in one transaction
-- (store_asset.c). The reference tables are rewritten from the DAG files at every load.

-- One asset, known by its URI. name and group default as in Airflow (the URI, "asset").
CREATE TABLE asset (
    id         serial PRIMARY KEY,
    name       varchar(1500) NOT NULL,
    uri        varchar(1500) NOT NULL CONSTRAINT asset_uri_uq UNIQUE,
    "group"    varchar(1500) NOT NULL DEFAULT 'asset',
    extra      jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- One update of an asset: by a task's successful try (source_* set) or from outside
-- (`gust assets event`, source_* NULL).
CREATE TABLE asset_event (
    id               serial PRIMARY KEY,
    asset_id         integer NOT NULL REFERENCES asset (id) ON DELETE CASCADE,
    extra            jsonb NOT NULL DEFAULT '{}',
    source_task_id   varchar(250),
    source_dag_id    varchar(250),
    source_run_id    varchar(250),
    source_map_index integer DEFAULT -1,
    timestamp        timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX idx_asset_id_timestamp ON asset_event (asset_id, timestamp);

-- The pending consumer runs: asset updated, its consumer target_dag_id not yet run for it.
CREATE TABLE asset_dag_run_queue (
    asset_id      integer NOT NULL REFERENCES asset (id) ON DELETE CASCADE,
    target_dag_id varchar(250) NOT NULL REFERENCES dag (dag_id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (asset_id, target_dag_id)
);

CREATE INDEX idx_asset_dag_run_queue_target_dag_id ON asset_dag_run_queue (target_dag_id);

-- DAGs scheduled on an asset (their consumers).
CREATE TABLE dag_schedule_asset_reference (
    asset_id   integer NOT NULL REFERENCES asset (id) ON DELETE CASCADE,
    dag_id     varchar(250) NOT NULL REFERENCES dag (dag_id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (asset_id, dag_id)
);

CREATE INDEX idx_dag_schedule_asset_reference_dag_id ON dag_schedule_asset_reference (dag_id);

-- Tasks that update an asset (its producers).
CREATE TABLE task_outlet_asset_reference (
    asset_id   integer NOT NULL REFERENCES asset (id) ON DELETE CASCADE,
    dag_id     varchar(250) NOT NULL REFERENCES dag (dag_id) ON DELETE CASCADE,
    task_id    varchar(250) NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (asset_id, dag_id, task_id)
);

CREATE INDEX idx_task_outlet_asset_reference_dag_id ON task_outlet_asset_reference (dag_id);

-- Tasks that read an asset (inlets: recorded, they change nothing a run does).
CREATE TABLE task_inlet_asset_reference (
    asset_id   integer NOT NULL REFERENCES asset (id) ON DELETE CASCADE,
    dag_id     varchar(250) NOT NULL REFERENCES dag (dag_id) ON DELETE CASCADE,
    task_id    varchar(250) NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (asset_id, dag_id, task_id)
);

CREATE INDEX idx_task_inlet_asset_reference_dag_id ON task_inlet_asset_reference (dag_id);

-- The events an asset-triggered run consumed (templates' triggering_asset_events).
CREATE TABLE dagrun_asset_event (
    dag_run_id bigint NOT NULL REFERENCES dag_run (id) ON DELETE CASCADE,
    event_id   integer NOT NULL REFERENCES asset_event (id) ON DELETE CASCADE,
    PRIMARY KEY (dag_run_id, event_id)
);

CREATE INDEX idx_dagrun_asset_events_event_id ON dagrun_asset_event (event_id);
