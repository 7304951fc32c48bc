-- 0010_retention_indexes: `gust db clean --clean-before-timestamp` deletes dag runs (and with
-- them their task instances, tries and XCom) older than a timestamp, where a run's age is
-- coalesce(start_date, queued_at, logical_date) (store_admin.c): without an index on that
-- expression every clean reads the whole dag_run table. (Task instances, tries and XCom are
-- found through their run's keys, which are indexed already.)
CREATE INDEX IF NOT EXISTS idx_dag_run_age ON dag_run ((coalesce(start_date, queued_at, logical_date)));
