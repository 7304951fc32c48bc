-- 0002_pharmaceutical: the drug registry pipeline's tables (issue 5): the production table
-- pharmaceutical_data, the staging table the stream loader COPYs into, and the dead letters
-- of messages the loader could not use. (Consumer offsets live in stream_offsets, 0001.)
--
-- Column names are the original DDL's 29 flat field names, written unquoted as the original
-- did, so PostgreSQL folds them to lower case (soDangKy -> sodangky, lastModificationTime ->
-- lastmodificationtime): queries written for the original tables keep working. The types are
-- proper ones instead of the original's text everywhere:
--   * timestamptz for every timestamp and date: the source sends ISO 8601 with an offset
--     (2025-12-01T22:00:51.22+07:00); the loader keeps the instant, comparisons are by time,
--     not by string (text comparison broke with mixed precision and offsets);
--   * bigint for the source's numeric ids, integer for its enums;
--   * text for everything else (names, addresses, codes like soDangKy that look numeric but
--     are not: "VD-12345-10", and dotCap / tuoiTho that are free text in the source).
--
-- Applied by `gust db migrate` in one transaction (do not put BEGIN/COMMIT here).

-- One row per registration number: the newest version of each drug record (by
-- lastmodificationtime) the upsert task has seen. Never overwritten by an older version.
CREATE TABLE pharmaceutical_data (
    idthuoc              bigint,      -- the source's item id ("id")
    sodangky             text PRIMARY KEY, -- registration number: the business key
    sodangkycu           text,        -- previous registration number
    tenthuoc             text,        -- drug name
    phanloaithuocenum    integer,     -- drug class (an enum in the source)
    congtydangkyid       bigint,
    congtysanxuatid      bigint,
    creationtime         timestamptz,
    -- Which version wins. NULL only when the source sent none: such a row is replaced by the
    -- next version that has one (see tasks/pharma_upsert.c).
    lastmodificationtime timestamptz,
    tencongtydangky      text,        -- congTyDangKy.*: the registering company
    diachidangky         text,
    nuocdangky           text,
    tencongtysanxuat     text,        -- congTySanXuat.*: the manufacturer
    diachisanxuat        text,
    nuocsanxuat          text,
    fulladdress          text,        -- diaChiSanXuat + ", " + nuocSanXuat unless already in it
    dotcap               text,        -- thongTinDangKyThuoc.*: issuing round (free text)
    ngaycapsodangky      timestamptz, -- date granted
    ngayhethansodangky   timestamptz, -- expiry date
    ngaygiahansodangky   timestamptz, -- renewal date
    soquyetdinh          text,        -- decision number
    thongtinrutsodangky  text,        -- thongTinRutSoDangKy.urlCongVanRutSoDangKy (withdrawal)
    dangbaoche           text,        -- thongTinThuocCoBan.*: dosage form
    donggoi              text,        -- packaging
    hamluong             text,        -- strength
    hoatchatchinh        text,        -- active ingredients
    tieuchuan            text,        -- standard
    tieuchuanid          bigint,
    tuoitho              text,        -- shelf life ("36 tháng": free text)
    -- gust: when this row was last written by the upsert (not a source field)
    loaded_at            timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX idx_pharmaceutical_data_lastmod ON pharmaceutical_data (lastmodificationtime);

-- What the loader has read from Kafka and the upsert has not yet moved. Same 29 columns and
-- types as pharmaceutical_data (the loader COPYs into them by name), but sodangky is NOT a key:
-- several versions of one record may wait here (a changed record crawled twice, the crawl's
-- overlap window re-sending it); the upsert picks the newest.
CREATE TABLE pharmaceutical_data_staging (
    -- gust: identifies one staged row, so the upsert deletes exactly the rows it read and
    -- never a row a concurrent loader inserted after its snapshot. Also the tie-break between
    -- two versions with the same lastmodificationtime: the later-loaded one wins.
    staging_id           bigserial PRIMARY KEY,
    idthuoc              bigint,
    sodangky             text NOT NULL, -- the loader dead-letters records without one
    sodangkycu           text,
    tenthuoc             text,
    phanloaithuocenum    integer,
    congtydangkyid       bigint,
    congtysanxuatid      bigint,
    creationtime         timestamptz,
    lastmodificationtime timestamptz,
    tencongtydangky      text,
    diachidangky         text,
    nuocdangky           text,
    tencongtysanxuat     text,
    diachisanxuat        text,
    nuocsanxuat          text,
    fulladdress          text,
    dotcap               text,
    ngaycapsodangky      timestamptz,
    ngayhethansodangky   timestamptz,
    ngaygiahansodangky   timestamptz,
    soquyetdinh          text,
    thongtinrutsodangky  text,
    dangbaoche           text,
    donggoi              text,
    hamluong             text,
    hoatchatchinh        text,
    tieuchuan            text,
    tieuchuanid          bigint,
    tuoitho              text,
    -- gust: where the row came from, for tracing a bad value back to its Kafka message.
    -- Nullable: rows staged by other means (a manual \copy, a test) have no source message.
    source_topic         text,
    source_partition     integer,
    source_offset        bigint,
    loaded_at            timestamptz NOT NULL DEFAULT now()
);

-- The upsert groups by sodangky and orders by version; this serves both.
CREATE INDEX idx_pharmaceutical_staging_version
    ON pharmaceutical_data_staging (sodangky, lastmodificationtime, staging_id);

-- Messages the loader could not turn into staging rows (bad JSON, no soDangKy, a bad date):
-- kept with their coordinates and raw bytes so they can be inspected and replayed; the
-- loader goes on with the next message.
CREATE TABLE pharmaceutical_dead_letters (
    id          bigserial PRIMARY KEY,
    topic       text NOT NULL,
    "partition" integer NOT NULL,
    "offset"    bigint NOT NULL,     -- quoted: OFFSET is a reserved word
    key         bytea,               -- the message key as sent (may be absent or not UTF-8)
    -- bytea, not text: a payload that is not valid UTF-8 (one reason to dead-letter it)
    -- could not be stored as text at all.
    payload     bytea,
    reason      text NOT NULL,       -- why it was refused, e.g. "item 3: soDangKy missing"
    failed_at   timestamptz NOT NULL DEFAULT now()
);

-- One message may yield several dead letters (one per bad item of a page), so no unique key
-- on the coordinates; this index finds them by message.
CREATE INDEX idx_pharmaceutical_dead_letters_msg
    ON pharmaceutical_dead_letters (topic, "partition", "offset");
