# Python's SyncManager (multiprocessing.Manager, fork start method) doing what
# bench/bench_manager.cpp measures for ipckit's manager: Queue put+get round trip and
# throughput between two processes, Lock acquire+release, Event set/wait ping-pong between
# two processes, and dict gets with client and server pinned to separate cores.
# Prints "name rate" lines (round trips, pairs or items per second), each the best of ROUNDS
# rounds (the machine is shared: the best round is Python's own speed, not the load's).
# Usage: mgr_sync_bench.py [N] [ROUNDS]
import os
import sys
import time
from multiprocessing import Manager, Process

from mgr_children import consume, echo, pong

n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3


def rate(count, body):
    best = 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        body()
        best = max(best, count / (time.perf_counter() - start))
    return best


with Manager() as m:
    q1, q2 = m.Queue(), m.Queue()
    p = Process(target=echo, args=(q1, q2))
    p.start()

    def queue_round_trips():
        for i in range(n):
            q1.put(i)
            q2.get()

    print("queue_round_trip", rate(n, queue_round_trips), flush=True)
    q1.put(None)
    q2.get()
    p.join()

    batch = 1000
    q, done = m.Queue(), m.Queue()
    p = Process(target=consume, args=(q, done, batch))
    p.start()

    def queue_items():
        for _ in range(max(n // batch, 1) * 4):
            for i in range(batch):
                q.put(i)
            done.get()

    print("queue_throughput", rate(max(n // batch, 1) * 4 * batch, queue_items), flush=True)
    q.put(None)
    p.join()

    lock = m.Lock()

    def lock_pairs():
        for _ in range(n):
            lock.acquire()
            lock.release()

    print("lock_acquire_release", rate(n, lock_pairs), flush=True)

    e1, e2 = m.Event(), m.Event()
    p = Process(target=pong, args=(e1, e2))
    p.start()

    def ping_pongs():
        for _ in range(n):
            e1.set()
            e2.wait()
            e2.clear()

    print("event_ping_pong", rate(n, ping_pongs), flush=True)
    p.kill()
    p.join()

    d = m.dict()
    d[1] = 1

    def gets():
        for _ in range(n):
            d[1]

    print("dict_get", rate(n, gets), flush=True)

# The same dict gets with the server on CPU 1 and this client on CPU 0 (the server process
# inherits the affinity it is started with).
if os.cpu_count() and os.cpu_count() >= 2:
    os.sched_setaffinity(0, {1})
    with Manager() as m:
        os.sched_setaffinity(0, {0})
        d = m.dict()
        d[1] = 1

        def pinned_gets():
            for _ in range(n):
                d[1]

        before = os.times()
        print("dict_get_pinned", rate(n, pinned_gets), flush=True)
        after = os.times()
        print("dict_get_pinned_client_cpu_us_per_call",
              1e6 * (after.user + after.system - before.user - before.system) / (n * rounds),
              flush=True)
