-- 0012_sensors: sensors in reschedule mode (Airflow's up_for_reschedule state and
-- task_reschedule table). Between two pokes a sensor's task instance waits in state
-- up_for_reschedule and holds no slot; reschedule_date is when its next poke is due.
-- first_poke is when it first poked: its timeout counts from there across reschedules (and
-- across scheduler restarts: it is in the row, not in a process). poke_count feeds the
-- exponential backoff. A clear resets all three.
ALTER TABLE task_instance DROP CONSTRAINT task_instance_state_check;
ALTER TABLE task_instance ADD CONSTRAINT task_instance_state_check
    CHECK (state IS NULL OR state IN ('scheduled', 'queued', 'running', 'success', 'failed',
                                      'up_for_retry', 'upstream_failed', 'skipped', 'removed',
                                      'up_for_reschedule'));
ALTER TABLE task_instance_history DROP CONSTRAINT task_instance_history_state_check;
ALTER TABLE task_instance_history ADD CONSTRAINT task_instance_history_state_check
    CHECK (state IS NULL OR state IN ('scheduled', 'queued', 'running', 'success', 'failed',
                                      'up_for_retry', 'upstream_failed', 'skipped', 'removed',
                                      'up_for_reschedule'));
ALTER TABLE task_instance ADD COLUMN reschedule_date timestamptz;
ALTER TABLE task_instance ADD COLUMN first_poke timestamptz;
ALTER TABLE task_instance ADD COLUMN poke_count integer NOT NULL DEFAULT 0;
-- what a scheduler scans for due pokes, as ti_next_retry for retries
CREATE INDEX ti_reschedule ON task_instance (reschedule_date) WHERE state = 'up_for_reschedule';

-- One row per reschedule (Airflow's table): the poke's start and end, and the next poke.
CREATE TABLE task_reschedule (
    id              bigserial PRIMARY KEY,
    dag_id          varchar(250) NOT NULL,
    run_id          varchar(250) NOT NULL,
    task_id         varchar(250) NOT NULL,
    map_index       integer NOT NULL DEFAULT -1,
    try_number      integer NOT NULL,
    start_date      timestamptz NOT NULL,
    end_date        timestamptz NOT NULL,
    duration        double precision NOT NULL,
    reschedule_date timestamptz NOT NULL,
    CONSTRAINT task_reschedule_ti_fkey FOREIGN KEY (dag_id, task_id, run_id, map_index)
        REFERENCES task_instance (dag_id, task_id, run_id, map_index)
        ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX idx_task_reschedule_ti ON task_reschedule (dag_id, run_id, task_id, map_index);
