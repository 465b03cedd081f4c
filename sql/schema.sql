-- schema.sql - the cnc-ingest tables, idempotent (CREATE ... IF NOT EXISTS).
-- Applied by the plugin at start when mysql.create_schema is true, or by hand:
--   mariadb cnc < sql/schema.sql
-- Numbered migrations in sql/migrations/ follow this file.
--
-- One row per accepted message in cnc_message, keyed by msg_key: 16 bytes,
-- the message's millisecond timestamp (6 bytes, big-endian, so keys are
-- time-ordered and inserts append to the primary key) followed by 10 bytes
-- of an XXH3-128 hash of cnc_id, part_program, timestamp and the message
-- bytes. The key is deterministic: a QoS 2 redelivery or a spool replay is
-- an INSERT IGNORE no-op. Child rows carry the same msg_key.
-- Times are UTC DATETIME(3). Names inside keys (reading names, rule and variable) compare
-- byte for byte, as the envelope does: "Temp", "temp" and "temp " are three readings
-- (utf8mb4_nopad_bin: utf8mb4_bin would ignore trailing spaces and call the last two one).

CREATE TABLE IF NOT EXISTS cnc_message (
  msg_key       BINARY(16)   NOT NULL,
  cnc_id        VARCHAR(64)  NOT NULL,
  part_program  VARCHAR(128) NOT NULL,
  ts            DATETIME(3)  NOT NULL,
  received_at   DATETIME(3)  NOT NULL,
  handler       VARCHAR(64)  NOT NULL,
  -- The payload as sent: JSON, checked by the plugin before it is acknowledged. Not the JSON
  -- type, whose implicit CHECK (json_valid) parses every payload again (bench/run_db_cost.sh);
  -- the same LONGTEXT utf8mb4_bin it stands for, so JSON functions and views read it alike.
  payload       LONGTEXT     CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  ingest_node   VARCHAR(64)  NULL,      -- the broker that took it (node:), from version 2
  PRIMARY KEY (msg_key),
  KEY cnc_message_machine_time (cnc_id, ts)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS cnc_reading (
  msg_key    BINARY(16)   NOT NULL,
  name       VARCHAR(64)  CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
  num_value  DOUBLE       NULL,
  str_value  VARCHAR(256) NULL,
  PRIMARY KEY (msg_key, name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS cnc_efficiency (
  msg_key           BINARY(16)  NOT NULL,
  cnc_id            VARCHAR(64) NOT NULL,
  ts                DATETIME(3) NOT NULL,
  mode              VARCHAR(32) NOT NULL,
  temperature       DOUBLE      NOT NULL,
  vibration         DOUBLE      NOT NULL,
  efficiency_score  DOUBLE      NOT NULL,
  efficiency_level  VARCHAR(16) NOT NULL,
  is_anomaly        BOOLEAN     NOT NULL,
  PRIMARY KEY (msg_key),
  KEY cnc_efficiency_machine_time (cnc_id, ts)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS cnc_anomaly (
  msg_key    BINARY(16)  NOT NULL,
  cnc_id     VARCHAR(64) NOT NULL,
  ts         DATETIME(3) NOT NULL,
  rule       VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
  variable   VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
  value      DOUBLE      NULL,
  threshold  DOUBLE      NULL,
  severity   VARCHAR(16) NOT NULL,
  PRIMARY KEY (msg_key, rule, variable),
  KEY cnc_anomaly_time (ts),
  KEY cnc_anomaly_machine_time (cnc_id, ts)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS cnc_schema_version (
  version     INT         NOT NULL,
  applied_at  DATETIME(3) NOT NULL,
  PRIMARY KEY (version)
) ENGINE=InnoDB;

-- Machine states (issue #17): one row per interval a machine spent in one state. An interval
-- starts at the first message in a new state (value of the handler's state member, category,
-- reason or part program) and ends where the next one starts; the open one has ended_at NULL.
-- Keyed by machine and start: a replay, or the same message through a second broker, inserts
-- nothing. Written by the plugin's writer (plugin/store/sink_states.c); see README "Machine
-- states and OEE".
CREATE TABLE IF NOT EXISTS cnc_state_interval (
  cnc_id        VARCHAR(64)  NOT NULL,
  started_at    DATETIME(3)  NOT NULL,
  ended_at      DATETIME(3)  NULL,
  state         VARCHAR(256) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
  category      VARCHAR(20)  NOT NULL,   -- productive, idle, planned_downtime, unplanned_downtime, unknown
  reason        VARCHAR(256) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NULL,
  part_program  VARCHAR(128) NOT NULL,
  handler       VARCHAR(64)  NOT NULL,
  duration_s    DOUBLE AS (TIMESTAMPDIFF(MICROSECOND, started_at, ended_at) / 1e6) VIRTUAL,
  PRIMARY KEY (cnc_id, started_at),
  KEY cnc_state_interval_start (started_at),
  KEY cnc_state_interval_end (ended_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- The current state of every machine: one row each, upserted by the writer with every batch
-- (the newest message and the newest state change of each machine in it), so "what is every
-- machine doing" reads 500 rows, not the history. last_* columns: the newest message; state
-- columns: the open interval (state NULL for a machine whose handler tracks no state).
CREATE TABLE IF NOT EXISTS cnc_machine_state (
  cnc_id        VARCHAR(64)  NOT NULL,
  handler       VARCHAR(64)  NULL,
  part_program  VARCHAR(128) NULL,
  last_ts       DATETIME(3)  NULL,
  last_msg_key  BINARY(16)   NULL,
  state         VARCHAR(256) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NULL,
  category      VARCHAR(20)  NULL,
  reason        VARCHAR(256) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NULL,
  state_since   DATETIME(3)  NULL,
  PRIMARY KEY (cnc_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

INSERT IGNORE INTO cnc_schema_version VALUES (1, UTC_TIMESTAMP(3)), (2, UTC_TIMESTAMP(3)),
  (3, UTC_TIMESTAMP(3));

-- Latest message per machine, one row each: through cnc_machine_state's last_msg_key (a primary
-- key lookup per machine), not a GROUP BY over the history (which ran for minutes on 2 million
-- rows right after a bulk load, and returned a machine twice when two messages tied on ts).
CREATE OR REPLACE VIEW cnc_latest AS
  SELECT m.cnc_id, m.ts, m.part_program, m.handler, m.payload, m.msg_key
  FROM cnc_machine_state s
  JOIN cnc_message m ON m.msg_key = s.last_msg_key;

-- Hourly efficiency per machine.
CREATE OR REPLACE VIEW cnc_efficiency_hourly AS
  SELECT cnc_id,
         DATE_FORMAT(ts, '%Y-%m-%d %H:00:00') AS hour,
         COUNT(*)                AS samples,
         AVG(efficiency_score)   AS avg_score,
         MIN(efficiency_score)   AS min_score,
         SUM(is_anomaly)         AS anomalies
  FROM cnc_efficiency
  GROUP BY cnc_id, DATE_FORMAT(ts, '%Y-%m-%d %H:00:00');

-- Readings straight from the payload JSON, one row per payload member: what
-- mysql.readings: json stores instead of cnc_reading rows (also works with rows).
-- A member name may hold any character, '"' and '\' among them: JSON_QUOTE makes it a
-- correct path member. The names are utf8mb4 whatever the server's or database's default
-- character set (a latin1 default would turn other names into '?').
CREATE OR REPLACE VIEW cnc_reading_json AS
  SELECT m.msg_key, m.cnc_id, m.ts, k.name,
         JSON_VALUE(m.payload, CONCAT(_utf8mb4'$.', JSON_QUOTE(k.name))) AS value
  FROM cnc_message m,
       JSON_TABLE(JSON_KEYS(m.payload), '$[*]'
                  COLUMNS (name VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin
                           PATH '$')) AS k;

-- Every reading of a message, whichever mysql.readings: the payload's members (as in
-- cnc_reading_json) that have no cnc_reading row of their name, and every cnc_reading row: with
-- json, the readings a handler computed (a script's cycle_time_s) and the members whose value
-- it changed; with rows, all of them. Slower than cnc_reading_json for range aggregates (a
-- derived table: 0.34 -> 3.4 s for a day of 200,000 messages, bench/run_views.sh), so a reader
-- that wants the payload's members alone keeps that one.
CREATE OR REPLACE VIEW cnc_reading_all AS
  SELECT j.msg_key, j.cnc_id, j.ts, j.name, j.value
  FROM cnc_reading_json j
  WHERE NOT EXISTS (SELECT 1 FROM cnc_reading r WHERE r.msg_key = j.msg_key AND r.name = j.name)
  UNION ALL
  SELECT r.msg_key, m.cnc_id, m.ts, r.name, COALESCE(r.str_value, CAST(r.num_value AS CHAR))
  FROM cnc_reading r JOIN cnc_message m ON m.msg_key = r.msg_key;
