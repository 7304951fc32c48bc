-- 0009_import_warnings: warnings found while loading DAG files (keys that change nothing a run
-- does, deprecated spellings), stored beside import_error: one row per file that has any,
-- replaced on every load, as file:line:col: warning: message lines. A file may have both an
-- import_error row and an import_warning row.
CREATE TABLE import_warning (
    id        bigserial PRIMARY KEY,
    timestamp timestamptz NOT NULL DEFAULT now(),
    filename  text NOT NULL,
    warnings  text NOT NULL
);

CREATE INDEX idx_import_warning_filename ON import_warning (filename);
