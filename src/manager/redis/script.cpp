// The manager's operations on Redis, as Lua: one Redis Function library (FCALL), or the same
// code as a script (EVALSHA) on servers without Functions. Each runs atomically on the
// server (no client reads then writes). Values are the manager's
// MessagePack encoding of an Object; equality is equality of those bytes.
//
// Keys of the object with base B = "ipckit:{NAME}":
//   B:meta      hash: type, param (maxsize / value), seq (insertion counter), refs (anonymous)
//   B:h, B:o    dict: hash key -> value, and sorted set key -> insertion order
//   B:l         list; B:q queue items; B:unfinished JoinableQueue's count
//   B:lock      Lock/RLock: the holder's token, with a lease (SET NX PX)
//   B:owner     the token of the last acquirer, deleted on release: a lock found free while
//               this is set was freed by the lease (its holder died): "recovered"
//   B:depth     RLock recursion depth
//   B:holders   Semaphore units held: sorted set token:n -> lease end (server time, ms)
//   B:extra     Semaphore releases beyond the initial value; B:recovered units recovered
//   B:flag      Event
//   B:meta      also a Barrier's count, gen, released, broken
//   B:v         Value: its encoded value (the typecode is meta's param)
//   B:h, B:o    also a Namespace's attributes (keys: the encoded names); B:l an Array's items
//   B:cw        Condition: the waiter keys B:w:TOKEN, in arrival order (notify pops them);
//               its lock's type and name are meta's param ("RLock NAME")
//   B:W:chan    set of waiter keys B:w:TOKEN waiting on chan (lock, room, join, event):
//               a waiter blocks in BLPOP on its own key, notify pushes to each.
#include "script.hpp"

namespace ipckit::detail::redis {

namespace {
const char* const script_source = R"lua(
-- Set by main for each call (upvalues of every function below, so that the library is
-- loaded once as a Redis Function and each call only dispatches).
local KEYS, ARGV, B, op, lease, leased_object
local function k(s) return B .. ':' .. s end
local function fail(kind, msg) error({err = 'IPCKIT_' .. kind .. ' ' .. msg}) end
local DEL_MARK = '\193'
local LEASED = {'meta', 'h', 'o', 'l', 'q', 'unfinished', 'owner', 'depth', 'holders',
                'extra', 'recovered', 'flag', 'W:lock', 'W:room', 'W:join', 'W:event',
                'W:barrier', 'v', 'cw'}

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function register(chan, wkey)
  if wkey == nil or wkey == '' then return end
  redis.call('SADD', k('W:' .. chan), wkey)
  redis.call('PEXPIRE', k('W:' .. chan), 60000)
end
local function unregister(chan, wkey)
  if wkey == nil or wkey == '' then return end
  redis.call('SREM', k('W:' .. chan), wkey)
  redis.call('DEL', wkey)
end
local function notify(chan)
  local set = k('W:' .. chan)
  local members = redis.call('SMEMBERS', set)
  for _, w in ipairs(members) do
    redis.call('RPUSH', w, '1')
    redis.call('PEXPIRE', w, 10000)
  end
  if #members > 0 then redis.call('DEL', set) end
end
local function push(key, items, from, to)
  local i = from
  while i <= to do
    local j = math.min(i + 999, to)
    redis.call('RPUSH', key, unpack(items, i, j))
    i = j + 1
  end
end
local function rewrite(key, items)
  redis.call('DEL', key)
  push(key, items, 1, #items)
end
local function param()
  return tonumber(redis.call('HGET', k('meta'), 'param') or '0') or 0
end

-- Python's slice.indices: the first index, the step and the count.
local function slice(n, s, e, st)
  local step = 1
  if st ~= '' then step = tonumber(st) end
  if step == 0 then fail('VALUE', 'slice step cannot be zero') end
  local start, stop
  if s == '' then start = (step < 0) and math.huge or 0 else start = tonumber(s) end
  if e == '' then stop = (step < 0) and -math.huge or math.huge else stop = tonumber(e) end
  local function adj(v)
    if v < 0 then
      if v < -n then return (step < 0) and -1 or 0 end
      return v + n
    elseif v >= n then
      return (step < 0) and n - 1 or n
    end
    return v
  end
  start = adj(start)
  stop = adj(stop)
  local count = 0
  if step < 0 then
    if stop < start then count = math.floor((start - stop - 1) / (-step)) + 1 end
  elseif start < stop then
    count = math.floor((stop - start - 1) / step) + 1
  end
  return start, step, count
end

local function normalize(i, n)
  i = tonumber(i)
  if i < 0 then i = i + n end
  return i
end

-- Sorting: values decoded with cmsgpack and compared as Python would (numbers with
-- numbers, strings with strings, lists element by element).
local function typename(v)
  local t = type(v)
  if t == 'nil' then return 'NoneType' end
  if t == 'number' or t == 'boolean' then return 'number' end
  if t == 'string' then return 'str' end
  return 'list'
end
local compare
compare = function(a, b)
  if type(a) == 'boolean' then a = a and 1 or 0 end
  if type(b) == 'boolean' then b = b and 1 or 0 end
  local ta, tb = typename(a), typename(b)
  if ta ~= tb or ta == 'NoneType' then
    fail('VALUE', "'<' not supported between instances of '" .. ta .. "' and '" .. tb .. "'")
  end
  if ta == 'list' then
    local n = math.min(#a, #b)
    for i = 1, n do
      local c = compare(a[i], b[i])
      if c ~= 0 then return c end
    end
    if #a < #b then return -1 elseif #a > #b then return 1 end
    return 0
  end
  if a < b then return -1 elseif b < a then return 1 end
  return 0
end

-- The Python type of an encoded value, from its first MessagePack byte.
local function rawtype(raw)
  local b = string.byte(raw, 1)
  if b <= 0x7f or b >= 0xe0 or (b >= 0xcc and b <= 0xd3) then return 'int' end
  if b == 0xca or b == 0xcb then return 'float' end
  if b == 0xc2 or b == 0xc3 then return 'bool' end
  if b == 0xc0 then return 'NoneType' end
  if (b >= 0xa0 and b <= 0xbf) or (b >= 0xd9 and b <= 0xdb) then return 'str' end
  if b >= 0xc4 and b <= 0xc6 then return 'bytes' end
  if (b >= 0x90 and b <= 0x9f) or b == 0xdc or b == 0xdd then return 'list' end
  return 'dict'
end
local function family(t)
  if t == 'int' or t == 'float' or t == 'bool' then return 'number' end
  return t
end
-- Compares two decorated values {v = decoded, raw = encoded}; fails as Python's '<' does.
local function compare_top(a, b)
  local ta, tb = rawtype(a.raw), rawtype(b.raw)
  local fa = family(ta)
  if fa ~= family(tb) or fa == 'NoneType' or fa == 'dict' then
    fail('VALUE', "'<' not supported between instances of '" .. ta .. "' and '" .. tb .. "'")
  end
  return compare(a.v, b.v)
end

local ops = {}

-- ---- objects -------------------------------------------------------------------------
-- type, anonymous ('1'/'0'), param [, 'v', value | 'l', items...]: the initial contents
ops.create = function()
  local t = redis.call('HGET', k('meta'), 'type')
  if t then
    if t ~= ARGV[3] then fail('TYPE', t) end
    return 0
  end
  redis.call('HSET', k('meta'), 'type', ARGV[3], 'param', ARGV[5])
  if ARGV[6] == 'v' then redis.call('SET', k('v'), ARGV[7]) end
  if ARGV[6] == 'l' then push(k('l'), ARGV, 7, #ARGV) end
  if ARGV[4] == '1' then
    redis.call('HSET', k('meta'), 'refs', 1)
    leased_object = true
  end
  return 1
end
ops.incref = function()
  if redis.call('EXISTS', k('meta')) == 0 then return 0 end
  return redis.call('HINCRBY', k('meta'), 'refs', 1)
end
ops.decref = function()
  if redis.call('EXISTS', k('meta')) == 0 then return 0 end
  local refs = redis.call('HINCRBY', k('meta'), 'refs', -1)
  if refs <= 0 then
    for _, s in ipairs(LEASED) do redis.call('DEL', k(s)) end
    redis.call('DEL', k('lock'))
    leased_object = false
  end
  return refs
end
ops.touch = function()
  return redis.call('EXISTS', k('meta'))
end
ops.unregister = function()  -- chan, wkey
  unregister(ARGV[3], ARGV[4])
  return 1
end

-- ---- dict ------------------------------------------------------------------------------
local function dset(key, value)
  if redis.call('HSET', k('h'), key, value) == 1 then
    redis.call('ZADD', k('o'), redis.call('HINCRBY', k('meta'), 'seq', 1), key)
  end
end
local function ddel(key)
  if redis.call('HDEL', k('h'), key) == 0 then return 0 end
  redis.call('ZREM', k('o'), key)
  return 1
end
ops.dset = function() dset(ARGV[3], ARGV[4]); return 1 end
ops.ddel = function() return ddel(ARGV[3]) end
ops.dupdate = function()  -- k1, v1, k2, v2...: one HSET per 500 pairs, straight from ARGV;
  -- the insertion order only for a chunk that added keys (NX: a known key keeps its place)
  local i = 3
  while i <= #ARGV do
    local j = math.min(i + 999, #ARGV)
    if redis.call('HSET', k('h'), unpack(ARGV, i, j)) > 0 then
      local pairs_in_chunk = (j - i + 1) / 2
      local first = redis.call('HINCRBY', k('meta'), 'seq', pairs_in_chunk) - pairs_in_chunk
      local zs = {}
      for m = i, j, 2 do
        zs[#zs + 1] = first + (m - i) / 2 + 1
        zs[#zs + 1] = ARGV[m]
      end
      redis.call('ZADD', k('o'), 'NX', unpack(zs))
    end
    i = j + 1
  end
  return 1
end
ops.ditems = function()  -- flat [k1, v1, k2, v2...] in insertion order
  local keys = redis.call('ZRANGE', k('o'), 0, -1)
  local out = {}
  for _, key in ipairs(keys) do
    out[#out + 1] = key
    out[#out + 1] = redis.call('HGET', k('h'), key)
  end
  return out
end
ops.dvalues = function()
  local keys = redis.call('ZRANGE', k('o'), 0, -1)
  local out = {}
  for _, key in ipairs(keys) do out[#out + 1] = redis.call('HGET', k('h'), key) end
  return out
end
ops.dpop = function()
  local v = redis.call('HGET', k('h'), ARGV[3])
  if not v then return {0} end
  ddel(ARGV[3])
  return {1, v}
end
ops.dpopitem = function()
  local last = redis.call('ZRANGE', k('o'), -1, -1)
  if #last == 0 then return {0} end
  local v = redis.call('HGET', k('h'), last[1])
  ddel(last[1])
  return {1, last[1], v}
end
ops.dsetdefault = function()
  local v = redis.call('HGET', k('h'), ARGV[3])
  if v then return v end
  dset(ARGV[3], ARGV[4])
  return ARGV[4]
end
ops.dclear = function()
  redis.call('DEL', k('h'), k('o'))
  return 1
end

-- ---- list ------------------------------------------------------------------------------
ops.lextend = function()
  push(k('l'), ARGV, 3, #ARGV)
  return 1
end
ops.lset = function()  -- index, value -> {1} or {0, size}
  local n = redis.call('LLEN', k('l'))
  local i = normalize(ARGV[3], n)
  if i < 0 or i >= n then return {0, n} end
  redis.call('LSET', k('l'), i, ARGV[4])
  return {1}
end
ops.lpop = function()  -- index -> {1, value} or {0, size}
  local n = redis.call('LLEN', k('l'))
  local i = normalize(ARGV[3], n)
  if i < 0 or i >= n then return {0, n} end
  local v
  if i == n - 1 then
    v = redis.call('RPOP', k('l'))
  elseif i == 0 then
    v = redis.call('LPOP', k('l'))
  else
    v = redis.call('LINDEX', k('l'), i)
    redis.call('LSET', k('l'), i, DEL_MARK)
    redis.call('LREM', k('l'), 1, DEL_MARK)
  end
  return {1, v}
end
ops.linsert = function()  -- index, value (Python's insert: the index is clamped)
  local n = redis.call('LLEN', k('l'))
  local i = normalize(ARGV[3], n)
  if i < 0 then i = 0 end
  if i >= n then
    redis.call('RPUSH', k('l'), ARGV[4])
  elseif i == 0 then
    redis.call('LPUSH', k('l'), ARGV[4])
  else
    local tail = redis.call('LRANGE', k('l'), i, -1)
    redis.call('LTRIM', k('l'), 0, i - 1)
    redis.call('RPUSH', k('l'), ARGV[4])
    push(k('l'), tail, 1, #tail)
  end
  return 1
end
ops.lindex = function()  -- value, start, stop ('' = None) -> index or -1
  local n = redis.call('LLEN', k('l'))
  local start, stop = 0, n
  if ARGV[4] ~= '' then
    start = normalize(ARGV[4], n)
    if start < 0 then start = 0 end
  end
  if ARGV[5] ~= '' then
    stop = normalize(ARGV[5], n)
    if stop < 0 then stop = 0 end
  end
  if stop > n then stop = n end
  if start >= stop then return -1 end
  local items = redis.call('LRANGE', k('l'), start, stop - 1)
  for j, v in ipairs(items) do
    if v == ARGV[3] then return start + j - 1 end
  end
  return -1
end
ops.lremove = function()
  return redis.call('LREM', k('l'), 1, ARGV[3])
end
ops.lreverse = function()
  local items = redis.call('LRANGE', k('l'), 0, -1)
  local out = {}
  for j = #items, 1, -1 do out[#out + 1] = items[j] end
  rewrite(k('l'), out)
  return 1
end
ops.lsort = function()  -- reverse ('1'/'0')
  local items = redis.call('LRANGE', k('l'), 0, -1)
  local rev = ARGV[3] == '1'
  local dec = {}
  for j, v in ipairs(items) do dec[j] = {v = cmsgpack.unpack(v), i = j, raw = v} end
  -- every pair once, so that a mix of types fails as Python's sort does
  for j = 2, #dec do compare_top(dec[j], dec[1]) end
  table.sort(dec, function(a, b)
    local c = compare_top(a, b)
    if c == 0 then return a.i < b.i end
    if rev then return c > 0 end
    return c < 0
  end)
  local out = {}
  for j, d in ipairs(dec) do out[j] = d.raw end
  rewrite(k('l'), out)
  return 1
end
ops.lslice = function()  -- start, stop, step
  local n = redis.call('LLEN', k('l'))
  local start, step, count = slice(n, ARGV[3], ARGV[4], ARGV[5])
  if count == 0 then return {} end
  if step == 1 then return redis.call('LRANGE', k('l'), start, start + count - 1) end
  local items = redis.call('LRANGE', k('l'), 0, -1)
  local out = {}
  for j = 0, count - 1 do out[#out + 1] = items[start + j * step + 1] end
  return out
end
ops.lsetslice = function()  -- start, stop, step, items...
  local n = redis.call('LLEN', k('l'))
  local start, step, count = slice(n, ARGV[3], ARGV[4], ARGV[5])
  local given = #ARGV - 5
  if step == 1 then
    local items = redis.call('LRANGE', k('l'), 0, -1)
    local out = {}
    for j = 1, start do out[#out + 1] = items[j] end
    for j = 6, #ARGV do out[#out + 1] = ARGV[j] end
    for j = start + count + 1, n do out[#out + 1] = items[j] end
    rewrite(k('l'), out)
    return 1
  end
  if given ~= count then
    fail('VALUE', 'attempt to assign sequence of size ' .. given ..
                  ' to extended slice of size ' .. count)
  end
  for j = 0, count - 1 do redis.call('LSET', k('l'), start + j * step, ARGV[6 + j]) end
  return 1
end
ops.ldelslice = function()  -- start, stop, step
  local n = redis.call('LLEN', k('l'))
  local start, step, count = slice(n, ARGV[3], ARGV[4], ARGV[5])
  if count == 0 then return 1 end
  local drop = {}
  for j = 0, count - 1 do drop[start + j * step + 1] = true end
  local items = redis.call('LRANGE', k('l'), 0, -1)
  local out = {}
  for j, v in ipairs(items) do
    if not drop[j] then out[#out + 1] = v end
  end
  rewrite(k('l'), out)
  return 1
end
ops.lclear = function()
  redis.call('DEL', k('l'))
  return 1
end

-- ---- Queue / JoinableQueue -----------------------------------------------------------------
ops.qput = function()  -- item, joinable, wkey -> 1 put, 0 full (waiter registered)
  local max = param()
  if max > 0 and redis.call('LLEN', k('q')) >= max then
    register('room', ARGV[5])
    return 0
  end
  redis.call('RPUSH', k('q'), ARGV[3])
  if ARGV[4] == '1' then redis.call('INCR', k('unfinished')) end
  unregister('room', ARGV[5])
  return 1
end
ops.qget = function()  -- -> {1, item} or {0}
  local v = redis.call('LPOP', k('q'))
  if not v then return {0} end
  if param() > 0 then notify('room') end
  return {1, v}
end
ops.qgot = function()  -- after a BLPOP took an item: room for a blocked put
  if param() > 0 then notify('room') end
  return 1
end
ops.qtaskdone = function()
  local u = tonumber(redis.call('GET', k('unfinished')) or '0')
  if u <= 0 then fail('VALUE', 'task_done() called too many times') end
  if redis.call('DECR', k('unfinished')) == 0 then notify('join') end
  return 1
end
ops.qjoin = function()  -- wkey -> 1 done, 0 waiting
  if tonumber(redis.call('GET', k('unfinished')) or '0') <= 0 then
    unregister('join', ARGV[3])
    return 1
  end
  register('join', ARGV[3])
  return 0
end
ops.qclear = function()
  redis.call('DEL', k('q'))
  if param() > 0 then notify('room') end
  return 1
end

-- ---- Lock / RLock ------------------------------------------------------------------------
-- wkey '' (a first try): no waiter to register or unregister. A free lock is taken with one
-- SET NX PX; the owner mark (GETSET) tells whether its last holder released it.
ops.lkacquire = function()  -- token, wkey, rlock -> 1, 2 (recovered), 0 (waiter registered)
  local token, wkey = ARGV[3], ARGV[4]
  if redis.call('SET', k('lock'), token, 'NX', 'PX', lease) then
    local prev = redis.call('GETSET', k('owner'), token)
    if ARGV[5] == '1' or ARGV[6] then  -- a Lock's depth is 1 (a missing key reads as 1)
      redis.call('SET', k('depth'), tonumber(ARGV[6] or '1'))  -- a Condition's waiter: its levels
    end
    unregister('lock', wkey)
    if prev then return 2 end
    return 1
  end
  local cur = redis.call('GET', k('lock'))
  if ARGV[5] == '1' and cur == token then
    redis.call('INCR', k('depth'))
    redis.call('PEXPIRE', k('lock'), lease)
    unregister('lock', wkey)
    return 1
  end
  register('lock', wkey)
  return 0
end
ops.lkrelease = function()  -- token, rlock -> remaining depth
  local token = ARGV[3]
  local cur = redis.call('GET', k('lock'))
  if cur ~= token then
    if ARGV[4] == '1' then fail('RUNTIME', 'cannot release un-acquired lock') end
    if not cur then
      if redis.call('GET', k('owner')) == token then
        -- our lease ran out and nobody took the lock meanwhile
        redis.call('DEL', k('owner'), k('depth'))
        notify('lock')
        return 0
      end
      fail('RUNTIME', 'release unlocked lock')
    end
    fail('RUNTIME', 'release of a lock held by another client (on Redis only the holder ' ..
                    'releases a lock, or its lease expires)')
  end
  if ARGV[4] == '1' then
    local d = redis.call('DECR', k('depth'))
    if d > 0 then return d end
  end
  redis.call('DEL', k('lock'), k('owner'), k('depth'))
  notify('lock')
  return 0
end
ops.lkrenew = function()  -- token -> 1 renewed, 0 not held
  if redis.call('GET', k('lock')) ~= ARGV[3] then return 0 end
  redis.call('PEXPIRE', k('lock'), lease)
  return 1
end
ops.lkowned = function()  -- token -> the levels it holds (0: not the holder)
  if redis.call('GET', k('lock')) ~= ARGV[3] then return 0 end
  return tonumber(redis.call('GET', k('depth')) or '1')
end
ops.lkreleaseall = function()  -- token -> the levels it held (0: not the holder)
  if redis.call('GET', k('lock')) ~= ARGV[3] then return 0 end
  local d = tonumber(redis.call('GET', k('depth')) or '1')
  redis.call('DEL', k('lock'), k('owner'), k('depth'))
  notify('lock')
  return d
end
ops.lkstate = function()  -- -> {held, depth}
  local held = redis.call('EXISTS', k('lock'))
  local d = tonumber(redis.call('GET', k('depth')) or '0')
  if held == 0 then d = 0 end
  return {held, d}
end

-- ---- Semaphore / BoundedSemaphore ----------------------------------------------------------
local function purge()
  local now = now_ms()
  local gone = redis.call('ZREMRANGEBYSCORE', k('holders'), '-inf', now)
  if gone > 0 then redis.call('INCRBY', k('recovered'), gone) end
  return now
end
local function available()
  return param() + tonumber(redis.call('GET', k('extra')) or '0') - redis.call('ZCARD', k('holders'))
end
ops.smacquire = function()  -- token, wkey -> {1 or 2, unit} or {0}
  local now = purge()
  if available() > 0 then
    local unit = ARGV[3] .. ':' .. redis.call('HINCRBY', k('meta'), 'seq', 1)
    redis.call('ZADD', k('holders'), now + lease, unit)
    unregister('lock', ARGV[4])
    if tonumber(redis.call('GET', k('recovered')) or '0') > 0 then
      redis.call('DECR', k('recovered'))
      return {2, unit}
    end
    return {1, unit}
  end
  register('lock', ARGV[4])
  return {0}
end
ops.smrelease = function()  -- unit or '', bounded
  purge()
  local removed = 0
  if ARGV[3] ~= '' then removed = redis.call('ZREM', k('holders'), ARGV[3]) end
  if removed == 0 then
    if redis.call('ZCARD', k('holders')) > 0 then
      redis.call('ZPOPMIN', k('holders'))
    elseif ARGV[4] == '1' then
      fail('VALUE', 'Semaphore released too many times')
    else
      redis.call('INCR', k('extra'))
    end
  end
  notify('lock')
  return 1
end
ops.smrenew = function()  -- units...
  local now = now_ms()
  for i = 3, #ARGV do redis.call('ZADD', k('holders'), 'XX', now + lease, ARGV[i]) end
  return 1
end
ops.smvalue = function()
  purge()
  return available()
end

-- ---- Event ---------------------------------------------------------------------------------
ops.evset = function()
  redis.call('SET', k('flag'), '1')
  notify('event')
  return 1
end
ops.evclear = function()
  redis.call('DEL', k('flag'))
  return 1
end
ops.evwait = function()  -- wkey -> 1 set, 0 waiting
  if redis.call('EXISTS', k('flag')) == 1 then
    unregister('event', ARGV[3])
    return 1
  end
  register('event', ARGV[3])
  return 0
end

-- ---- Condition ---------------------------------------------------------------------------
-- Its lock lives under its own keys (another slot, in a Cluster): the client checks the
-- holder and releases the lock (lkowned, lkreleaseall) around these.
-- A waiter's key WKEY:a marks it alive (a lease its waiting client renews): a notify skips
-- waiters that died while waiting, as the ipckit server drops them.
ops.cvwait = function()  -- wkey: queued (the lock is released next, by the client)
  redis.call('DEL', ARGV[3])
  redis.call('SET', ARGV[3] .. ':a', '1', 'PX', lease)
  redis.call('RPUSH', k('cw'), ARGV[3])
  return 1
end
ops.cvcancel = function()  -- wkey -> 1 still queued (timed out), 0 already notified
  local removed = redis.call('LREM', k('cw'), 1, ARGV[3])
  redis.call('DEL', ARGV[3], ARGV[3] .. ':a')
  return removed
end
ops.cvnotify = function()  -- n, all ('1'/'0'): wakes up to n live waiters, first come first
  local n = tonumber(ARGV[3])
  local taken = 0
  while ARGV[4] == '1' or taken < n do
    local w = redis.call('LPOP', k('cw'))
    if not w then break end
    if redis.call('EXISTS', w .. ':a') == 1 then
      redis.call('RPUSH', w, '1')
      redis.call('PEXPIRE', w, 600000)
      taken = taken + 1
    end
  end
  return taken
end

-- ---- Barrier -------------------------------------------------------------------------------
-- meta fields: count (arrived this round), gen (rounds ended), released (how the last round
-- ended: 1 released, 0 reset), broken.
local function mget(field) return tonumber(redis.call('HGET', k('meta'), field) or '0') end
ops.bwait = function()  -- wkey -> {1, index} released, {0, index, gen} waiting
  if mget('broken') == 1 then fail('BROKEN', 'the barrier is broken') end
  local index = redis.call('HINCRBY', k('meta'), 'count', 1) - 1
  if index + 1 >= param() then
    redis.call('HINCRBY', k('meta'), 'gen', 1)
    redis.call('HSET', k('meta'), 'released', 1, 'count', 0)
    notify('barrier')
    return {1, index}
  end
  register('barrier', ARGV[3])
  return {0, index, mget('gen')}
end
-- gen seen, wkey, timed out ('1'/'0') -> 1 released, 0 still waiting
ops.bcheck = function()
  if mget('gen') > tonumber(ARGV[3]) then
    unregister('barrier', ARGV[4])
    if mget('released') == 1 then return 1 end
    fail('BROKEN', 'the barrier was reset')
  end
  if mget('broken') == 1 then
    unregister('barrier', ARGV[4])
    redis.call('HINCRBY', k('meta'), 'count', -1)
    fail('BROKEN', 'the barrier is broken')
  end
  if ARGV[5] == '1' then  -- timed out, or gave up: the others are told
    unregister('barrier', ARGV[4])
    redis.call('HSET', k('meta'), 'broken', 1)
    redis.call('HINCRBY', k('meta'), 'count', -1)
    notify('barrier')
    fail('BROKEN', 'the barrier is broken (wait timed out)')
  end
  register('barrier', ARGV[4])
  return 0
end
ops.breset = function()
  if mget('count') > 0 and mget('broken') == 0 then
    redis.call('HINCRBY', k('meta'), 'gen', 1)
    redis.call('HSET', k('meta'), 'released', 0)
  end
  redis.call('HSET', k('meta'), 'count', 0, 'broken', 0)
  notify('barrier')
  return 1
end
ops.babort = function()
  redis.call('HSET', k('meta'), 'broken', 1)
  notify('barrier')
  return 1
end
ops.bstate = function()  -- {parties, n_waiting, broken}
  local broken = mget('broken')
  local waiting = mget('count')
  if broken == 1 then waiting = 0 end
  return {param(), waiting, broken}
end

-- args: op, lease [, op's arguments]: a lease 'nMS' comes from a client that knows the object
-- is named (no reference count, nothing to renew: no meta lookup).
local lease_arg, lease_ms, named  -- the last lease argument, parsed (the same every call)
local function main(keys, args)
  KEYS, ARGV = keys, args
  B, op = keys[1], args[1]
  if args[2] ~= lease_arg then
    lease_arg = args[2]
    named = string.byte(lease_arg, 1) == 110
    lease_ms = tonumber(named and string.sub(lease_arg, 2) or lease_arg)
  end
  lease = lease_ms
  if named then
    leased_object = false
  else
    leased_object = redis.call('HEXISTS', k('meta'), 'refs') == 1
  end
  local f = ops[op]
  if not f then fail('VALUE', 'unknown operation ' .. tostring(op)) end
  local result = f()
  if leased_object then
    for _, s in ipairs(LEASED) do redis.call('PEXPIRE', k(s), lease) end
  end
  return result
end
)lua";

}  // namespace

// Redis 7: one library, loaded once per server (FUNCTION LOAD REPLACE), called with FCALL.
const std::string& function_library(const std::string& name) {
    static const std::string text = "#!lua name=" + name + "\n" + script_source +
                                    "\nredis.register_function('" + name + "', main)\n";
    return text;
}

// Older servers: the same text as a script (EVALSHA / EVAL).
const std::string& eval_script() {
    static const std::string text = std::string("local G_KEYS, G_ARGV = KEYS, ARGV\n") +
                                    script_source + "\nreturn main(G_KEYS, G_ARGV)\n";
    return text;
}

}  // namespace ipckit::detail::redis
