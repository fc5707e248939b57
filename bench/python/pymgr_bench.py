# A Python manager client's rate (the same client, standard library only) against an ipckit
# server (PORT) or against Python's own SyncManager server ("own"): dict set+get and queue
# put+get, ROUNDS rounds of N calls each, best round reported.
# Usage: pymgr_bench.py PORT|own AUTHKEY [N] [ROUNDS]
import sys
import time
from multiprocessing.managers import SyncManager

authkey = sys.argv[2].encode()
n = int(sys.argv[3]) if len(sys.argv) > 3 else 20000
rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 3
if sys.argv[1] == "own":
    m = SyncManager(address=("127.0.0.1", 0), authkey=authkey)
    m.start()
else:
    m = SyncManager(address=("127.0.0.1", int(sys.argv[1])), authkey=authkey)
    m.connect()
d = m.dict()
q = m.Queue()


def best(body):
    rates = []
    for _ in range(rounds):
        start = time.perf_counter()
        body()
        rates.append(2 * n / (time.perf_counter() - start))
    return max(rates)


def dict_calls():
    for i in range(n):
        d[i % 100] = i
        d[i % 100]


def queue_calls():
    for i in range(n):
        q.put(i)
        q.get()


print("dict set+get %.0f calls/s" % best(dict_calls))
print("queue put+get %.0f calls/s" % best(queue_calls))
