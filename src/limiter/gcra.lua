-- The fleet limiter's GCRA script, run by Redis (EVALSHA; src/limiter/redis_limiter.c loads and
-- calls it). The build embeds this file's bytes in the module (build/gen/limiter/gcra_lua.h, made
-- by the Makefile), so what Redis runs is this file as written; tests/test_gcra_script.c runs it
-- alone against a redis-server and `make lint` checks it (Redis's Lua 5.1: .luacheckrc).
-- It is the only writer of a bucket: one hash, integer microseconds on the Redis server's clock.
--
-- Hash: tat, pause, ra, rate, burst (the identity: a process asking for another rate or burst is
-- refused), and once the rate changed or is adaptive: cur (the rate in force), max, wmax, tcut,
-- found, gen (cuts so far), seq (changes so far), why (cxb_rate_reason), mrate, mcount, mstart
-- (the measured fleet send rate), tnext (next regrowth check), floor. A fixed bucket whose rate
-- never changed keeps no cur and schedules with the caller's T and tau, exactly as before.
--
-- ARGV: 1 mode ("take" | "pause" | "cut"), 2 T, 3 tau (the configured rate's), 4 n, 5 lookahead
-- (take) | Retry-After (pause) | the slot's gen (cut), 6 rate identity, 7 burst, 8 max_wait,
-- 9 adaptive ("1"/"0"), 10 start rate, 11 max_rate, 12 set rate ("" = none), 13 set max_rate
-- ("" = none), 14..21 the controller's constants (rate_ctl.h: BETA, C, FLOOR, STEP, TICK us,
-- BUCKET us, SMOOTH, C_PROBE): the same formulas as rate_ctl.c, on the server's clock.
--
-- Reply: {-1, rate, burst} (identity mismatch), else {code, cur, gen, found, max, seq, why, ...}
-- (7 head values: HEAD in redis_limiter.c) with rates as strings, then for code
--   0  the waits of the slots committed: the first if its wait <= max_wait (a reservation, first
--      come, first served across the fleet), the others only within lookahead
--   1  nothing committed; the first slot is (next value) away
--   -2 paused for (next value) more, by a Retry-After of (the one after)
--   3  pause or cut done
-- A bucket without state (new, expired, or lost: FLUSHALL, a restarted Redis, a failover) starts
-- at tat = now + max_wait: processes may still hold reservations the lost state made (each at
-- most max_wait ahead, at most burst + rate * max_wait of them), and this head start keeps them
-- plus the fresh bucket's grants within 2 * burst + rate * W in any window W. A change of rate
-- opens an epoch: tat = max(tat, now) + the new tau, so the first slot after it is at the
-- boundary and no burst credit crosses it (docs/limiter.md, "Changing the rate").
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local k = KEYS[1]
local F = {'tat','pause','ra','rate','burst','cur','max','wmax','tcut','found','gen','seq',
  'why','mrate','mcount','mstart','tnext','floor'}
local got = redis.call('HMGET', k, unpack(F))
if got[4] and (got[4] ~= ARGV[6] or got[5] ~= ARGV[7]) then return {-1, got[4], got[5]} end
local h = {}
for i, n in ipairs(F) do h[n] = tonumber(got[i]) end
local A = {}
for i = 2, #ARGV do A[i] = tonumber(ARGV[i]) end
local mode, adaptive = ARGV[1], ARGV[9] == '1'
local beta, C, step, tick, bucket, smooth, Cp = A[14], A[15], A[17], A[18], A[19], A[20], A[21]
local burst = A[7]
local tat, pause = h.tat or (now + A[8]), h.pause or 0
local T, tau, cur = A[2], A[3], h.cur
local S = {max = h.max or A[11], gen = h.gen or 0, seq = h.seq or 0, why = h.why or 0,
  found = h.found or 0, mrate = h.mrate or 0, mcount = h.mcount or 0, mstart = h.mstart or now,
  tnext = h.tnext or 0, floor = h.floor or math.min(A[16], A[10]), wmax = h.wmax, tcut = h.tcut}
local function K(w) return (w * (1 - beta) / C) ^ (1 / 3) end
local function params(r) local Tr = math.ceil(1e6 / r); return Tr, math.floor((burst - 1) * Tr) end
if adaptive and not cur then cur = A[10]; S.wmax = cur; S.tcut = now - K(cur) * 1e6 end
if cur then T, tau = params(cur) end
local dirty = cur ~= nil
local function apply(r, why)
  local phi, T0 = tat - tau, T
  local b = math.max(phi, now)
  T, tau = params(r)
  if why == 1 and T > T0 and phi > now then b = math.max(b, now + math.floor((phi - now) * T / T0)) end
  tat = b + tau
  cur, S.seq, S.why, dirty = r, S.seq + 1, why, true
end
local function fold()
  local span = now - S.mstart
  if span < bucket then return end
  local r = S.mcount / (span / 1e6)
  S.mrate = S.mrate > 0 and (smooth * r + (1 - smooth) * S.mrate) or r
  S.mcount, S.mstart = 0, now
end
if ARGV[13] ~= '' and adaptive then
  S.max = A[13]; S.floor = math.min(S.floor, S.max)
  if cur > S.max then apply(S.max, 4) else S.seq, S.why = S.seq + 1, 4 end
end
if ARGV[12] ~= '' then
  local r = A[12]
  if adaptive then r = math.min(r, S.max); S.wmax = r; S.tcut = now - K(r) * 1e6 end
  apply(r, 3)
end
if mode == 'cut' and adaptive and A[5] == S.gen then
  fold()
  local sent = (S.mrate > 0 and S.mrate < cur) and S.mrate or cur
  S.wmax, S.found, S.tcut, S.gen, S.tnext = sent, sent, now, S.gen + 1, now + tick
  apply(math.max(S.floor, math.min(S.max, beta * sent)), 1)
elseif mode == 'take' and adaptive and now >= S.tnext then
  S.tnext, dirty = now + tick, true
  fold()
  local x = (now - S.tcut) / 1e6 - K(S.wmax)
  local r = (x < 0 and C or Cp) * x * x * x + S.wmax
  r = math.max(S.floor, math.min(r, math.max(cur, 2 * S.mrate), S.max))
  local d = math.abs(r - cur)
  if d > 0 and (d >= step * cur or r >= S.max or r <= S.floor) then apply(r, 2) end
end
local function f(x) return string.format('%.0f', x) end
local function g(x) return string.format('%.17g', x) end
local function save(committed)
  if not (committed or dirty) then return end
  redis.call('HSET', k, 'tat', f(tat), 'rate', ARGV[6], 'burst', ARGV[7])
  if dirty then
    redis.call('HSET', k, 'cur', g(cur), 'max', g(S.max), 'wmax', g(S.wmax or cur), 'tcut',
      f(S.tcut or now), 'found', g(S.found), 'gen', S.gen, 'seq', S.seq, 'why', S.why, 'mrate',
      g(S.mrate), 'mcount', S.mcount, 'mstart', f(S.mstart), 'tnext', f(S.tnext), 'floor', g(S.floor))
  end
  redis.call('PEXPIRE', k, math.floor((math.max(tat, pause) - now + tau) / 1000) + 60000)
end
local function head(code)
  return {code, g(cur or A[10]), S.gen, g(S.found), g(S.max), S.seq, S.why}
end
if mode == 'pause' then
  local ra = A[5]
  if now + ra > pause then pause = now + ra; redis.call('HSET', k, 'pause', f(pause), 'ra', f(ra)) end
  if tat < pause then tat = pause end
  save(true)
  return head(3)
end
if mode == 'cut' then save(false); return head(3) end
if pause > now then
  save(false)
  local r = head(-2); r[#r + 1] = pause - now; r[#r + 1] = h.ra or 0
  return r
end
local out = head(0)
for i = 1, A[4] do
  local at = math.max(now, tat - tau)
  if at - now > (i == 1 and A[8] or A[5]) then break end
  tat = math.max(tat, at) + T
  out[#out + 1] = at - now
end
local n = #out - 7
S.mcount = S.mcount + n
save(n > 0)
if n == 0 then local r = head(1); r[#r + 1] = math.max(now, tat - tau) - now; return r end
return out
