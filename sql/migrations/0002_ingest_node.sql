-- 0002: the broker that ingested each message (config `node:`), for plants with several
-- brokers. Rows stored before this migration have NULL. Added at the end of the table, which
-- MariaDB does instantly (no table copy, so no long cluster-wide lock under Galera's TOI);
-- IF NOT EXISTS lets two brokers starting together both apply it.
ALTER TABLE cnc_message ADD COLUMN IF NOT EXISTS ingest_node VARCHAR(64) NULL;
INSERT IGNORE INTO cnc_schema_version VALUES (2, UTC_TIMESTAMP(3));
