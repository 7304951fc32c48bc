INSERT INTO events_{{ ds_nodash }} (name, n) VALUES (%(name)s, %(n)s)
