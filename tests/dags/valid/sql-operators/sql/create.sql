CREATE TABLE IF NOT EXISTS events_{{ ds_nodash }} (id int, name text);
