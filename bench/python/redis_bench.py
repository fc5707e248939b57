# Python's redis client (Debian's python3-redis) doing what bench/bench_redis.cpp measures
# for ipckit's Redis back end, against the same server: dict set/get (HSET/HGET on a hash),
# list append (RPUSH), queue put+get (RPUSH + LPOP), lock acquire+release (redis-py's
# Lock: SET NX PX with a token, released by its Lua script), and the batched calls: a dict
# update of 10,000 items (one HSET with a mapping) and a list extend of 10,000 (one RPUSH).
# What a Python user writes by hand: ints as the client encodes them (decimal strings), no
# insertion order for the hash, no waiters, no leases renewed.
# Prints "name rate" lines: calls (or pairs, or items) per second, one round of N.
# Usage: redis_bench.py PORT [N]
import sys
import time

import redis

port = int(sys.argv[1])
n = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
r = redis.Redis(host="127.0.0.1", port=port)
prefix = "pybench:"


def rate(count, body):
    start = time.perf_counter()
    body()
    return count / (time.perf_counter() - start)


def dict_set():
    for i in range(n):
        r.hset(prefix + "{d}:h", i % 1000, i)


def dict_get():
    for _ in range(n):
        r.hget(prefix + "{dg}:h", 1)


def list_append():
    for _ in range(n):
        r.rpush(prefix + "{l}", 1)


def queue_put_get():
    for _ in range(n):
        r.rpush(prefix + "{q}", 1)
        r.lpop(prefix + "{q}")


lock = r.lock(prefix + "{lock}", timeout=10)


def lock_pair():
    for _ in range(n):
        lock.acquire()
        lock.release()


batches = max(1, n // 1000)
mapping = {i: i for i in range(10000)}
items = [12345] * 10000


def update():
    for _ in range(batches):
        r.hset(prefix + "{u}:h", mapping=mapping)


def extend():
    for _ in range(batches):
        r.rpush(prefix + "{e}", *items)
        r.delete(prefix + "{e}")  # as the C++ row clears (there untimed)


r.hset(prefix + "{dg}:h", 1, 1)
print("dict_set", rate(n, dict_set))
print("dict_get", rate(n, dict_get))
print("list_append", rate(n, list_append))
print("queue_put_get", rate(n, queue_put_get))
print("lock_acquire_release", rate(n, lock_pair))
print("dict_update_10k", rate(batches * 10000, update))
print("list_extend_10k", rate(batches * 10000, extend))
r.delete(*[prefix + s for s in ("{d}:h", "{dg}:h", "{l}", "{q}", "{u}:h", "{e}")])
