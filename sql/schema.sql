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
  ideal_cycle_s DOUBLE       NULL,       -- the part program's (states.ideal_cycle_s), NULL: none
  duration_s    DOUBLE AS (TIMESTAMPDIFF(MICROSECOND, started_at, ended_at) / 1e6) VIRTUAL,
  PRIMARY KEY (cnc_id, started_at),
  KEY cnc_state_interval_start (started_at),
  KEY cnc_state_interval_end (ended_at),
  KEY cnc_state_interval_machine_end (cnc_id, ended_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Parts made, one row per message whose part counters moved (states.part_count_variable,
-- good_count_variable, reject_count_variable): the counters' steps, resets and wraps taken out
-- on the broker thread. ideal_s: parts x the part program's ideal cycle (OEE's performance),
-- NULL without one. Keyed by message: a replay counts nothing twice.
CREATE TABLE IF NOT EXISTS cnc_part_count (
  msg_key       BINARY(16)   NOT NULL,
  cnc_id        VARCHAR(64)  NOT NULL,
  ts            DATETIME(3)  NOT NULL,
  part_program  VARCHAR(128) NOT NULL,
  parts         INT UNSIGNED NOT NULL,
  good          INT UNSIGNED NOT NULL,
  rejects       INT UNSIGNED NOT NULL,
  ideal_s       DOUBLE       NULL,
  PRIMARY KEY (msg_key),
  KEY cnc_part_count_machine_time (cnc_id, ts),
  KEY cnc_part_count_time (ts)
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

-- The plant's shifts in UTC (config `shifts:`, written by the writer through the server's time
-- zone tables): shift_day is the local date a shift starts on. Past shifts stay as they were
-- written; future ones follow the calendar of the broker that wrote last.
CREATE TABLE IF NOT EXISTS cnc_shift (
  shift_start  DATETIME     NOT NULL,
  shift_end    DATETIME     NOT NULL,
  name         VARCHAR(32)  NOT NULL,
  shift_day    DATE         NOT NULL,
  PRIMARY KEY (shift_start, name),
  KEY cnc_shift_day (shift_day)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Time in each category and reason per machine and hour, and per machine and shift, of the
-- closed intervals (the open one is added by the views, from cnc_machine_state); starts:
-- intervals that began in the hour or shift. Computed again by the writer for the hours and
-- shifts whose closed intervals changed. reason '' : none.
CREATE TABLE IF NOT EXISTS cnc_state_hour (
  cnc_id    VARCHAR(64)  NOT NULL,
  hour      DATETIME     NOT NULL,
  category  VARCHAR(20)  NOT NULL,
  reason    VARCHAR(256) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
  seconds   DOUBLE       NOT NULL,
  starts    INT UNSIGNED NOT NULL,
  PRIMARY KEY (cnc_id, hour, category, reason),
  KEY cnc_state_hour_time (hour)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Downtime of all machines per hour, by category (planned_downtime, unplanned_downtime) and
-- reason: the sums of cnc_state_hour, kept for the downtime Pareto (a week is ~2,000 rows, not
-- every machine's hours).
CREATE TABLE IF NOT EXISTS cnc_downtime_hour (
  hour      DATETIME     NOT NULL,
  category  VARCHAR(20)  NOT NULL,
  reason    VARCHAR(256) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
  seconds   DOUBLE       NOT NULL,
  starts    INT UNSIGNED NOT NULL,
  PRIMARY KEY (hour, category, reason)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS cnc_state_shift (
  cnc_id       VARCHAR(64)  NOT NULL,
  shift_start  DATETIME     NOT NULL,
  shift_name   VARCHAR(32)  NOT NULL,
  category     VARCHAR(20)  NOT NULL,
  reason       VARCHAR(256) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
  seconds      DOUBLE       NOT NULL,
  starts       INT UNSIGNED NOT NULL,
  PRIMARY KEY (cnc_id, shift_start, shift_name, category, reason),
  KEY cnc_state_shift_time (shift_start)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- What the messages of each machine add up to per minute and per hour (UTC buckets): the
-- writer adds each batch's sums in its transaction, or computes a bucket again from the rows
-- after a replay (plugin/store/sink_rollups.c). eff_*: efficiency scores (sensor_efficiency),
-- anomalies: anomaly flags, parts/good/rejects/ideal_s: as in cnc_part_count.
CREATE TABLE IF NOT EXISTS cnc_rollup_minute (
  cnc_id     VARCHAR(64)  NOT NULL,
  minute     DATETIME     NOT NULL,
  messages   INT UNSIGNED NOT NULL,
  eff_n      INT UNSIGNED NOT NULL,
  eff_sum    DOUBLE       NOT NULL,
  eff_min    DOUBLE       NULL,
  eff_max    DOUBLE       NULL,
  anomalies  INT UNSIGNED NOT NULL,
  parts      INT UNSIGNED NOT NULL,
  good       INT UNSIGNED NOT NULL,
  rejects    INT UNSIGNED NOT NULL,
  ideal_s    DOUBLE       NULL,
  PRIMARY KEY (cnc_id, minute),
  KEY cnc_rollup_minute_time (minute)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS cnc_rollup_hour (
  cnc_id     VARCHAR(64)  NOT NULL,
  hour       DATETIME     NOT NULL,
  messages   INT UNSIGNED NOT NULL,
  eff_n      INT UNSIGNED NOT NULL,
  eff_sum    DOUBLE       NOT NULL,
  eff_min    DOUBLE       NULL,
  eff_max    DOUBLE       NULL,
  anomalies  INT UNSIGNED NOT NULL,
  parts      INT UNSIGNED NOT NULL,
  good       INT UNSIGNED NOT NULL,
  rejects    INT UNSIGNED NOT NULL,
  ideal_s    DOUBLE       NULL,
  PRIMARY KEY (cnc_id, hour),
  KEY cnc_rollup_hour_time (hour)
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

-- Hourly efficiency per machine, from the writer's hourly sums (a day of 500 machines is 12,000
-- rows, not a GROUP BY over every message); hour is a UTC DATETIME, so a range on it is a range
-- on the rollup's key. anomalies: anomaly flags of every handler in the hour.
CREATE OR REPLACE VIEW cnc_efficiency_hourly AS
  SELECT cnc_id, hour, eff_n AS samples, eff_sum / eff_n AS avg_score, eff_min AS min_score,
         eff_max AS max_score, anomalies
  FROM cnc_rollup_hour
  WHERE eff_n > 0;

-- Time per machine, hour (UTC), category and reason: the closed intervals' (cnc_state_hour) and
-- the open interval's up to now (cnc_machine_state; the last 31 days of it). reason '' : none.
CREATE OR REPLACE VIEW cnc_state_hourly AS
  WITH RECURSIVE back (k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM back WHERE k < 743)
  SELECT cnc_id, hour, category, reason, seconds, starts FROM cnc_state_hour
  UNION ALL
  SELECT m.cnc_id, h.hour, m.category, COALESCE(m.reason, ''),
         TIMESTAMPDIFF(MICROSECOND, GREATEST(m.state_since, h.hour),
                       LEAST(UTC_TIMESTAMP(3), h.hour + INTERVAL 1 HOUR)) / 1e6,
         m.state_since >= h.hour
  FROM cnc_machine_state m
  JOIN (SELECT CAST(DATE_FORMAT(UTC_TIMESTAMP(), '%Y-%m-%d %H:00:00') AS DATETIME)
               - INTERVAL k HOUR AS hour FROM back) h
    ON h.hour + INTERVAL 1 HOUR > m.state_since
  WHERE m.state_since IS NOT NULL AND m.state_since < UTC_TIMESTAMP(3);

-- Availability per machine and hour: productive time over the time that was not planned
-- downtime (ISO 22400); NULL for an hour of planned downtime only.
CREATE OR REPLACE VIEW cnc_availability_hourly AS
  SELECT cnc_id, hour,
         SUM(IF(category = 'productive', seconds, 0)) AS productive_s,
         SUM(IF(category = 'idle', seconds, 0)) AS idle_s,
         SUM(IF(category = 'planned_downtime', seconds, 0)) AS planned_downtime_s,
         SUM(IF(category = 'unplanned_downtime', seconds, 0)) AS unplanned_downtime_s,
         SUM(IF(category = 'unknown', seconds, 0)) AS unknown_s,
         SUM(IF(category = 'productive', seconds, 0))
           / NULLIF(SUM(seconds) - SUM(IF(category = 'planned_downtime', seconds, 0)), 0)
           AS availability
  FROM cnc_state_hourly
  GROUP BY cnc_id, hour;

-- Time per machine, shift, category and reason: the closed intervals' (cnc_state_shift) and the
-- open interval's up to now, within each shift of cnc_shift.
CREATE OR REPLACE VIEW cnc_state_by_shift AS
  SELECT x.cnc_id, x.shift_start, x.shift_name, s.shift_day, s.shift_end, x.category, x.reason,
         x.seconds, x.starts
  FROM cnc_state_shift x
  JOIN cnc_shift s ON s.shift_start = x.shift_start AND s.name = x.shift_name
  UNION ALL
  SELECT m.cnc_id, s.shift_start, s.name, s.shift_day, s.shift_end, m.category,
         COALESCE(m.reason, ''),
         TIMESTAMPDIFF(MICROSECOND, GREATEST(m.state_since, s.shift_start),
                       LEAST(UTC_TIMESTAMP(3), s.shift_end)) / 1e6,
         m.state_since >= s.shift_start
  FROM cnc_machine_state m
  JOIN cnc_shift s ON s.shift_end > m.state_since AND s.shift_start < UTC_TIMESTAMP(3)
  WHERE m.state_since IS NOT NULL;

-- Availability per machine and shift (shift_day: the plant's date the shift starts on).
CREATE OR REPLACE VIEW cnc_availability_shift AS
  SELECT cnc_id, shift_day, shift_name, shift_start, shift_end,
         SUM(IF(category = 'productive', seconds, 0)) AS productive_s,
         SUM(IF(category = 'idle', seconds, 0)) AS idle_s,
         SUM(IF(category = 'planned_downtime', seconds, 0)) AS planned_downtime_s,
         SUM(IF(category = 'unplanned_downtime', seconds, 0)) AS unplanned_downtime_s,
         SUM(IF(category = 'unknown', seconds, 0)) AS unknown_s,
         SUM(IF(category = 'productive', seconds, 0))
           / NULLIF(SUM(seconds) - SUM(IF(category = 'planned_downtime', seconds, 0)), 0)
           AS availability
  FROM cnc_state_by_shift
  GROUP BY cnc_id, shift_day, shift_name, shift_start, shift_end;

-- OEE per machine and shift (ISO 22400): availability x performance (the parts' ideal time over
-- the productive time) x quality (good over all parts); performance and quality NULL without
-- ideal cycle times or without part counters.
CREATE OR REPLACE VIEW cnc_oee_shift AS
  SELECT a.cnc_id, a.shift_day, a.shift_name, a.shift_start, a.shift_end, a.productive_s,
         a.availability, p.parts, p.good, p.rejects, p.ideal_s,
         p.ideal_s / NULLIF(a.productive_s, 0) AS performance,
         p.good / NULLIF(p.parts + 0e0, 0) AS quality,
         a.availability * (p.ideal_s / NULLIF(a.productive_s, 0)) * (p.good / NULLIF(p.parts + 0e0, 0))
           AS oee
  FROM cnc_availability_shift a
  LEFT JOIN (SELECT r.cnc_id, s.shift_start, s.name, SUM(r.parts) AS parts, SUM(r.good) AS good,
                    SUM(r.rejects) AS rejects, SUM(r.ideal_s) AS ideal_s
             FROM cnc_shift s
             JOIN cnc_rollup_minute r ON r.minute >= s.shift_start AND r.minute < s.shift_end
             GROUP BY r.cnc_id, s.shift_start, s.name) p
    ON p.cnc_id = a.cnc_id AND p.shift_start = a.shift_start AND p.name = a.shift_name;

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
