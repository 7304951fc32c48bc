-- 0005_connection: Airflow's `connection` table, with Airflow's columns and meanings, so a
-- connection added by `gust connections add` (or by Airflow against the same database) is
-- found by conn_lookup (common/conn.c) after the AIRFLOW_CONN_<ID> environment variables.
--
-- password and extra hold Fernet tokens when is_encrypted / is_extra_encrypted say so (a key
-- was set in AIRFLOW__CORE__FERNET_KEY or GUST_FERNET_KEY when they were written), else the
-- plain text. extra is a JSON object's text (before encryption).
CREATE TABLE connection (
    id                 serial PRIMARY KEY,
    conn_id            varchar(250) NOT NULL CONSTRAINT connection_conn_id_uq UNIQUE,
    conn_type          varchar(500) NOT NULL,
    description        text,
    host               varchar(500),
    schema             varchar(500),
    login              text,
    password           text,
    port               integer,
    is_encrypted       boolean NOT NULL DEFAULT false,
    is_extra_encrypted boolean NOT NULL DEFAULT false,
    extra              text
);
