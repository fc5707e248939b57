# Python's SyncManager doing one row of bench/bench_manager.cpp's comparison, one round at a
# time on request, so that bench_manager can interleave its rounds with ipckit's (both then
# run under the same load). The rows are mgr_sync_bench.py's, between two processes where
# the row has two:
#   queue_round_trip  COUNT puts on one Queue, a child echoes each on another (COUNT/s: round trips)
#   queue_throughput  COUNT batches of 1,000 puts, a child gets them and acknowledges each
#                     batch on a second Queue (items/s)
#   lock              COUNT Lock acquire+release pairs (pairs/s)
#   event             COUNT ping-pongs: set e1, wait for e2, clear it; a child waits for e1,
#                     clears it, sets e2 (ping-pongs/s)
# For each line read on stdin it runs one round and prints "ROW RATE"; it ends at end of input.
# Usage: mgr_rounds.py ROW COUNT
import sys
import time
from multiprocessing import Manager, Process

from mgr_children import consume, echo, pong

row = sys.argv[1]
count = int(sys.argv[2])
batch = 1000


with Manager() as m:
    a, b = m.Queue(), m.Queue()
    lock = m.Lock()
    e1, e2 = m.Event(), m.Event()
    child = None
    if row == "queue_round_trip":
        child = Process(target=echo, args=(a, b))
    elif row == "queue_throughput":
        child = Process(target=consume, args=(a, b, batch))
    elif row == "event":
        child = Process(target=pong, args=(e1, e2))
    elif row != "lock":
        sys.exit("unknown row " + row)
    if child:
        child.start()

    def one_round():
        if row == "queue_round_trip":
            for i in range(count):
                a.put(i)
                b.get()
            return count
        if row == "queue_throughput":
            for _ in range(count):
                for i in range(batch):
                    a.put(i)
                b.get()
            return count * batch
        if row == "lock":
            for _ in range(count):
                lock.acquire()
                lock.release()
            return count
        for _ in range(count):
            e1.set()
            e2.wait()
            e2.clear()
        return count

    print("ready", flush=True)
    for _ in sys.stdin:
        start = time.perf_counter()
        done = one_round()
        print(row, done / (time.perf_counter() - start), flush=True)
    if row == "event":
        child.kill()
    elif child:
        a.put(None)
        if row == "queue_round_trip":
            b.get()
    if child:
        child.join()
