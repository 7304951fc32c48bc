-- 0014_pools_callbacks: pools, the per-task limits the claim enforces, and the record of
-- callbacks (docs/operations.md, "Pools" and "Notifications").
--
-- slot_pool is Airflow's table. A running task instance occupies pool_slots of its pool; the
-- claim (gust_claim, below) takes a queued instance only when its pool, its DAG's
-- max_active_tasks and its task's max_active_tis_per_dag / _per_dagrun leave room, counting
-- what runs now under a lock every claimer takes, so two processes can never overfill one.
-- slots -1 is unlimited, as in Airflow. include_deferred is kept for Airflow's JSON: gust has
-- no deferred state (a deferrable sensor reschedules and holds no slot while it waits).
CREATE TABLE slot_pool (
    id               serial PRIMARY KEY,
    pool             varchar(256) NOT NULL CONSTRAINT slot_pool_pool_uq UNIQUE,
    slots            integer NOT NULL DEFAULT 0 CHECK (slots >= -1),
    description      text,
    include_deferred boolean NOT NULL DEFAULT false
);
INSERT INTO slot_pool (pool, slots, description) VALUES ('default_pool', 128, 'Default pool');

-- gust: the task's limits, copied from the DAG file when the instance is made (Airflow reads
-- them from the DAG; the claim reads them here). NULL: none.
ALTER TABLE task_instance ADD COLUMN max_active_tis_per_dag integer;
ALTER TABLE task_instance ADD COLUMN max_active_tis_per_dagrun integer;
-- what the claim counts: the running instances of a pool, of a DAG
CREATE INDEX ti_running ON task_instance (pool, dag_id) WHERE state = 'running';

-- One callback gust ran (or started): a notifier of a task's or a DAG run's state change.
-- The process whose fenced update made the change inserts the row; the unique key makes a
-- second insert for the same change a no-op, so a notification is sent at most once.
-- task_id '' is the DAG run's own callback. state: running until the notifier ends.
CREATE TABLE callback_request (
    id          bigserial PRIMARY KEY,
    created_at  timestamptz NOT NULL DEFAULT now(),
    dag_id      varchar(250) NOT NULL,
    run_id      varchar(250) NOT NULL,
    task_id     varchar(250) NOT NULL DEFAULT '',
    map_index   integer NOT NULL DEFAULT -1,
    try_number  integer NOT NULL DEFAULT 0,
    event       varchar(30) NOT NULL,
    notifier    integer NOT NULL DEFAULT 0,
    callback    text NOT NULL,
    state       varchar(20) NOT NULL DEFAULT 'running'
        CHECK (state IN ('running', 'success', 'failed')),
    hostname    varchar(1000),
    ended_at    timestamptz,
    message     text,
    CONSTRAINT callback_request_once
        UNIQUE (dag_id, run_id, task_id, map_index, try_number, event, notifier)
);
