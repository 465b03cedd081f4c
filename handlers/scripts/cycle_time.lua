-- cycle_time.lua - counts parts and flags a cycle time that drifts: per machine and part
-- program, the time between two increments of the machine's part counter is compared with a
-- slowly learned baseline. What no compiled-in handler does: state of its own per machine, a
-- counter that may reset, a baseline per part program.
--
--   handlers:
--     lathe_cycles:
--       type: lua
--       params:
--         script: /etc/mosquitto/cnc_handlers/cycle_time.lua
--         counter: part_count   # the payload's part counter (default part_count)
--         warmup: 5             # cycles learned before any flag (default 5)
--         tolerance: 0.2        # a cycle this much (a fraction) off the baseline is flagged
--         learn: 0.1            # weight of a new cycle in the baseline (an EWMA)
--
-- Readings: every scalar payload member, plus cycle_time_s (the last cycle, when one just
-- ended) and parts (parts made since the machine was first heard, across counter resets).
-- Anomaly cycle_time_drift (warning): value the cycle time in seconds, threshold the edge of
-- the tolerated band. A counter that goes down (reset, wrap) starts a new count; several parts
-- in one step share the time evenly. A message older than the last counted one is refused:
-- the counter's history is kept in arrival order.

local pairs, type, integer = pairs, type, math.type -- locals: read faster than globals
local counter, warmup, tolerance, learn = "part_count", 5, 0.2, 0.1

local function init(params)
  counter = params.counter or counter
  warmup = params.warmup or warmup
  tolerance = params.tolerance or tolerance
  learn = params.learn or learn
  assert(type(counter) == "string", "params.counter must be a name")
  assert(math.type(warmup) == "integer" and warmup >= 1, "params.warmup must be a whole number >= 1")
  assert(type(tolerance) == "number" and tolerance > 0, "params.tolerance must be above 0")
  assert(type(learn) == "number" and learn > 0 and learn <= 1, "params.learn must be in (0, 1]")
end

local function process(msg, state)
  local p = msg.payload
  local readings = {}
  for name, v in pairs(p) do
    if type(v) ~= "table" then -- nested members (allow_nested) are not readings
      readings[name] = v
    end
  end
  local count = p[counter]
  if count == nil then
    return {readings = readings}
  end
  if integer(count) ~= "integer" or count < 0 then
    return nil, counter .. " must be a whole number >= 0"
  end
  local t = msg.timestamp
  if state.t ~= nil and t < state.t then
    return nil, "older than the last counted message: " .. counter .. " is kept in time order"
  end
  local result = {readings = readings}
  if state.count ~= nil and count > state.count and state.program == msg.part_program then
    local made = count - state.count
    local cycle = (t - state.t) / 1000 / made
    state.parts = state.parts + made
    readings.cycle_time_s = cycle
    local base = state.baselines[msg.part_program]
    if base == nil then
      base = {mean = cycle, n = 0}
      state.baselines[msg.part_program] = base
    end
    if base.n >= warmup then
      local low, high = base.mean * (1 - tolerance), base.mean * (1 + tolerance)
      if cycle < low or cycle > high then
        result.anomalies = {{rule = "cycle_time_drift", variable = counter, value = cycle,
                             threshold = cycle < low and low or high, severity = "warning"}}
      end
    end
    if result.anomalies == nil then -- a drifted cycle does not teach the baseline
      base.mean = base.mean + learn * (cycle - base.mean)
      base.n = base.n + 1
    end
  elseif state.count == nil then
    state.parts, state.baselines = 0, {}
  end
  -- An unchanged counter keeps the cycle's start; a new count, a reset or another program starts
  -- one here.
  if count ~= state.count or state.program ~= msg.part_program then
    state.count, state.t, state.program = count, t, msg.part_program
  end
  readings.parts = state.parts
  return result
end

return {init = init, process = process}
