-- One unit from a GCRA bucket, atomically: governor's algorithm (see local.rs), so that a limit
-- means the same with or without Redis. Time is Redis's own (TIME), in microseconds, so the
-- instances' clocks never matter. The key holds the theoretical arrival time (TAT) and expires
-- when the bucket is full again: an idle key is the same as no key.
--
-- KEYS[1]: the bucket.  ARGV[1]: the emission interval T (µs a unit takes to come back).
-- ARGV[2]: the burst.
-- Returns {1, units left} when a unit was taken, {0, µs until the next one} when refused.

-- Redis < 5 refuses a write after TIME without this; later versions always return true.
redis.replicate_commands()

local t = tonumber(ARGV[1])
local tau = t * (tonumber(ARGV[2]) - 1)
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now

local earliest = tat - tau
if now < earliest then
  return {0, earliest - now}
end
local next = math.max(tat, now) + t
-- %d: a number this size would otherwise be written in exponent form, losing digits.
redis.call('SET', KEYS[1], string.format('%d', next),
  'PX', string.format('%d', math.ceil((next - now) / 1000)))
return {1, math.floor(math.min(now + tau + t - next, tau + t) / t)}
