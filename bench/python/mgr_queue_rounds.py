# Python's SyncManager Queue throughput between two processes, one round at a time on
# request, so that bench/bench_manager.cpp can interleave its rounds with ipckit's (both then
# run under the same load). A round is what mgr_sync_bench.py's queue_throughput row does:
# BATCHES batches of 1,000 puts, a child process gets them and puts one acknowledgement per
# batch. For each line read on stdin it runs one round and prints "queue_throughput RATE";
# it ends at end of input.
# Usage: mgr_queue_rounds.py [BATCHES]
import sys
import time
from multiprocessing import Manager, Process

batches = int(sys.argv[1]) if len(sys.argv) > 1 else 4
batch = 1000


def consume(q, done):
    while True:
        for _ in range(batch):
            if q.get() is None:
                return
        done.put(1)


with Manager() as m:
    q, done = m.Queue(), m.Queue()
    p = Process(target=consume, args=(q, done))
    p.start()
    print("ready", flush=True)
    for _ in sys.stdin:
        start = time.perf_counter()
        for _ in range(batches):
            for i in range(batch):
                q.put(i)
            done.get()
        print("queue_throughput", batches * batch / (time.perf_counter() - start), flush=True)
    q.put(None)
    p.join()
