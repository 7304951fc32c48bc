-- 0011_task_mapping: dynamic task mapping. A mapped task's instances are task_instance rows with
-- map_index 0..n-1 (the key has had map_index since 0001); what they add is Airflow's
-- rendered_map_index (2.9+): the instance's name from map_index_template, shown by the CLI.
ALTER TABLE task_instance ADD COLUMN IF NOT EXISTS rendered_map_index varchar(250);
ALTER TABLE task_instance_history ADD COLUMN IF NOT EXISTS rendered_map_index varchar(250);
