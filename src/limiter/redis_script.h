/* The fleet limiter's Lua script (run by Redis with EVALSHA; redis_limiter.c loads and calls it).
 * It is the only writer of a bucket: one hash, integer microseconds on the Redis server's clock.
 *
 * Hash: tat, pause, ra, rate, burst (the identity: a process asking for another rate or burst is
 * refused), and once the rate changed or is adaptive: cur (the rate in force), max, wmax, tcut,
 * found, gen (cuts so far), seq (changes so far), why (cxb_rate_reason), mrate, mcount, mstart
 * (the measured fleet send rate), tnext (next regrowth check), floor. A fixed bucket whose rate
 * never changed keeps no cur and schedules with the caller's T and tau, exactly as before.
 *
 * ARGV: 1 mode ("take" | "pause" | "cut"), 2 T, 3 tau (the configured rate's), 4 n, 5 lookahead
 * (take) | Retry-After (pause) | the slot's gen (cut), 6 rate identity, 7 burst, 8 max_wait,
 * 9 adaptive ("1"/"0"), 10 start rate, 11 max_rate, 12 set rate ("" = none), 13 set max_rate
 * ("" = none), 14..21 the controller's constants (rate_ctl.h: BETA, C, FLOOR, STEP, TICK us,
 * BUCKET us, SMOOTH, C_PROBE): the same formulas as rate_ctl.c, on the server's clock.
 *
 * Reply: {-1, rate, burst} (identity mismatch), else {code, cur, gen, found, max, seq, why, ...}
 * with rates as strings, then for code
 *   0  the waits of the slots committed: the first if its wait <= max_wait (a reservation, first
 *      come, first served across the fleet), the others only within lookahead
 *   1  nothing committed; the first slot is (next value) away
 *   -2 paused for (next value) more, by a Retry-After of (the one after)
 *   3  pause or cut done
 * A bucket without state (new, expired, or lost: FLUSHALL, a restarted Redis, a failover) starts
 * at tat = now + max_wait: processes may still hold reservations the lost state made (each at
 * most max_wait ahead, at most burst + rate * max_wait of them), and this head start keeps them
 * plus the fresh bucket's grants within 2 * burst + rate * W in any window W. A change of rate
 * opens an epoch: tat = max(tat, now) + the new tau, so the first slot after it is at the
 * boundary and no burst credit crosses it (docs/limiter.md, "Changing the rate"). */
#ifndef CXB_REDIS_SCRIPT_H
#define CXB_REDIS_SCRIPT_H

#define CXB_REDIS_REPLY_HEAD 7 /* code, cur, gen, found, max, seq, why */

static const char CXB_REDIS_SCRIPT[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "local k = KEYS[1]\n"
    "local F = {'tat','pause','ra','rate','burst','cur','max','wmax','tcut','found','gen','seq',\n"
    "  'why','mrate','mcount','mstart','tnext','floor'}\n"
    "local got = redis.call('HMGET', k, unpack(F))\n"
    "if got[4] and (got[4] ~= ARGV[6] or got[5] ~= ARGV[7]) then return {-1, got[4], got[5]} end\n"
    "local h = {}\n"
    "for i, n in ipairs(F) do h[n] = tonumber(got[i]) end\n"
    "local A = {}\n"
    "for i = 2, #ARGV do A[i] = tonumber(ARGV[i]) end\n"
    "local mode, adaptive = ARGV[1], ARGV[9] == '1'\n"
    "local beta, C, step, tick, bucket, smooth, Cp = A[14], A[15], A[17], A[18], A[19], A[20], A[21]\n"
    "local burst = A[7]\n"
    "local tat, pause = h.tat or (now + A[8]), h.pause or 0\n"
    "local T, tau, cur = A[2], A[3], h.cur\n"
    "local S = {max = h.max or A[11], gen = h.gen or 0, seq = h.seq or 0, why = h.why or 0,\n"
    "  found = h.found or 0, mrate = h.mrate or 0, mcount = h.mcount or 0, mstart = h.mstart or now,\n"
    "  tnext = h.tnext or 0, floor = h.floor or math.min(A[16], A[10]), wmax = h.wmax, tcut = h.tcut}\n"
    "local function K(w) return (w * (1 - beta) / C) ^ (1 / 3) end\n"
    "local function params(r) local Tr = math.ceil(1e6 / r); return Tr, math.floor((burst - 1) * Tr) end\n"
    "if adaptive and not cur then cur = A[10]; S.wmax = cur; S.tcut = now - K(cur) * 1e6 end\n"
    "if cur then T, tau = params(cur) end\n"
    "local dirty = cur ~= nil\n"
    "local function apply(r, why)\n"
    "  local phi, T0 = tat - tau, T\n"
    "  local b = math.max(phi, now)\n"
    "  T, tau = params(r)\n"
    "  if why == 1 and T > T0 and phi > now then b = math.max(b, now + math.floor((phi - now) * T / T0)) end\n"
    "  tat = b + tau\n"
    "  cur, S.seq, S.why, dirty = r, S.seq + 1, why, true\n"
    "end\n"
    "local function fold()\n"
    "  local span = now - S.mstart\n"
    "  if span < bucket then return end\n"
    "  local r = S.mcount / (span / 1e6)\n"
    "  S.mrate = S.mrate > 0 and (smooth * r + (1 - smooth) * S.mrate) or r\n"
    "  S.mcount, S.mstart = 0, now\n"
    "end\n"
    "if ARGV[13] ~= '' and adaptive then\n"
    "  S.max = A[13]; S.floor = math.min(S.floor, S.max)\n"
    "  if cur > S.max then apply(S.max, 4) else S.seq, S.why = S.seq + 1, 4 end\n"
    "end\n"
    "if ARGV[12] ~= '' then\n"
    "  local r = A[12]\n"
    "  if adaptive then r = math.min(r, S.max); S.wmax = r; S.tcut = now - K(r) * 1e6 end\n"
    "  apply(r, 3)\n"
    "end\n"
    "if mode == 'cut' and adaptive and A[5] == S.gen then\n"
    "  fold()\n"
    "  local sent = (S.mrate > 0 and S.mrate < cur) and S.mrate or cur\n"
    "  S.wmax, S.found, S.tcut, S.gen, S.tnext = sent, sent, now, S.gen + 1, now + tick\n"
    "  apply(math.max(S.floor, math.min(S.max, beta * sent)), 1)\n"
    "elseif mode == 'take' and adaptive and now >= S.tnext then\n"
    "  S.tnext, dirty = now + tick, true\n"
    "  fold()\n"
    "  local x = (now - S.tcut) / 1e6 - K(S.wmax)\n"
    "  local r = (x < 0 and C or Cp) * x * x * x + S.wmax\n"
    "  r = math.max(S.floor, math.min(r, math.max(cur, 2 * S.mrate), S.max))\n"
    "  local d = math.abs(r - cur)\n"
    "  if d > 0 and (d >= step * cur or r >= S.max or r <= S.floor) then apply(r, 2) end\n"
    "end\n"
    "local function f(x) return string.format('%.0f', x) end\n"
    "local function g(x) return string.format('%.17g', x) end\n"
    "local function save(committed)\n"
    "  if not (committed or dirty) then return end\n"
    "  redis.call('HSET', k, 'tat', f(tat), 'rate', ARGV[6], 'burst', ARGV[7])\n"
    "  if dirty then\n"
    "    redis.call('HSET', k, 'cur', g(cur), 'max', g(S.max), 'wmax', g(S.wmax or cur), 'tcut',\n"
    "      f(S.tcut or now), 'found', g(S.found), 'gen', S.gen, 'seq', S.seq, 'why', S.why, 'mrate',\n"
    "      g(S.mrate), 'mcount', S.mcount, 'mstart', f(S.mstart), 'tnext', f(S.tnext), 'floor', g(S.floor))\n"
    "  end\n"
    "  redis.call('PEXPIRE', k, math.floor((math.max(tat, pause) - now + tau) / 1000) + 60000)\n"
    "end\n"
    "local function head(code)\n"
    "  return {code, g(cur or A[10]), S.gen, g(S.found), g(S.max), S.seq, S.why}\n"
    "end\n"
    "if mode == 'pause' then\n"
    "  local ra = A[5]\n"
    "  if now + ra > pause then pause = now + ra; redis.call('HSET', k, 'pause', f(pause), 'ra', f(ra)) end\n"
    "  if tat < pause then tat = pause end\n"
    "  save(true)\n"
    "  return head(3)\n"
    "end\n"
    "if mode == 'cut' then save(false); return head(3) end\n"
    "if pause > now then\n"
    "  save(false)\n"
    "  local r = head(-2); r[#r + 1] = pause - now; r[#r + 1] = h.ra or 0\n"
    "  return r\n"
    "end\n"
    "local out = head(0)\n"
    "for i = 1, A[4] do\n"
    "  local at = math.max(now, tat - tau)\n"
    "  if at - now > (i == 1 and A[8] or A[5]) then break end\n"
    "  tat = math.max(tat, at) + T\n"
    "  out[#out + 1] = at - now\n"
    "end\n"
    "local n = #out - 7\n"
    "S.mcount = S.mcount + n\n"
    "save(n > 0)\n"
    "if n == 0 then local r = head(1); r[#r + 1] = math.max(now, tat - tau) - now; return r end\n"
    "return out\n";
#endif
