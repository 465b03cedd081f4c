-- cnc_type_b.lua - the MES collector's CNCTypeB plug-in (the 3-axis machine CNC000) as a
-- handler script: the same records as the shipped config's cnc_type_b instance of the
-- machine_tool type (tests/unit/test_lua.c runs both on cnc-sim's lathe messages).
--
--   handlers:
--     cnc_type_b:
--       type: lua
--       params: {script: /etc/mosquitto/cnc_handlers/cnc_type_b.lua}
--       rules: [...]             # rules run on the record, as for any handler
--
-- Every payload member becomes a reading (the result has no `readings`). A message without
-- status, or with a status the MES does not know, is refused; a spindle speed or an
-- axis position outside its range is stored and flagged (anomalies spindle_range and
-- travel_limit, critical). Runs on the broker thread: keep it small.

local type = type -- a local: globals are read through the locked table, a little slower

local STATUS_NAMES = "running, idle, stopped, setup, alarm, maintenance"
local STATUSES = {running = true, idle = true, stopped = true, setup = true, alarm = true,
                  maintenance = true}
local REQUIRED = {"status"}
local SPINDLE_MIN, SPINDLE_MAX = 0, 8000 -- rpm
local AXES = { -- travel in mm, checked in this order
  {"X-Axis", 0, 800},
  {"Y-Axis", 0, 500},
  {"Z-Axis", -50, 300},
}

local NOTHING = {} -- the result when nothing is out of range: no table made per message

-- Adds an anomaly for v outside [min, max] (called only then: a Lua call costs more than a
-- comparison on the broker thread).
local function out_of_range(anomalies, rule, variable, v, min, max)
  anomalies = anomalies or {}
  anomalies[#anomalies + 1] = {rule = rule, variable = variable, value = v,
                               threshold = v < min and min or max, severity = "critical"}
  return anomalies
end

local function process(msg)
  local p = msg.payload
  for i = 1, #REQUIRED do
    if p[REQUIRED[i]] == nil then
      return nil, 'required variable "' .. REQUIRED[i] .. '" is missing'
    end
  end
  local status = p.status
  if status ~= nil and not STATUSES[status] then
    if type(status) ~= "string" then
      return nil, "status must be a string"
    end
    return nil, 'status "' .. status:sub(1, 64) .. '" is not one of ' .. STATUS_NAMES
  end
  local spin = p.spin
  local anomalies
  if spin ~= nil then
    if type(spin) ~= "number" then
      return nil, "spin must be a number"
    end
    if spin < SPINDLE_MIN or spin > SPINDLE_MAX then
      anomalies = out_of_range(anomalies, "spindle_range", "spin", spin, SPINDLE_MIN, SPINDLE_MAX)
    end
  end
  for i = 1, #AXES do
    local axis = AXES[i]
    local v = p[axis[1]]
    if v ~= nil then
      if type(v) ~= "number" then
        return nil, axis[1] .. " must be a number"
      end
      if v < axis[2] or v > axis[3] then
        anomalies = out_of_range(anomalies, "travel_limit", axis[1], v, axis[2], axis[3])
      end
    end
  end
  if anomalies == nil then
    return NOTHING
  end
  return {anomalies = anomalies}
end

return {process = process}
