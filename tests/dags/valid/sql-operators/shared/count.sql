SELECT count(*) FROM events WHERE ds = '{{ ds }}'
