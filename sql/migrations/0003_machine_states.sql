-- 0003: machine states (issue #17). The new tables cnc_state_interval and cnc_machine_state are
-- created by schema.sql, which runs after the migrations (CREATE TABLE IF NOT EXISTS); the view
-- cnc_latest is replaced there too, to read cnc_machine_state. cnc_machine_state fills as
-- machines speak: until a machine's first message through a plugin of this version,
-- cnc_latest does not list it (fill it at once with the statement in README "Machine states
-- and OEE").
INSERT IGNORE INTO cnc_schema_version VALUES (3, UTC_TIMESTAMP(3));
