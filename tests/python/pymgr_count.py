# Counts to N under a lock shared with a C++ process: with lock: n = n + 1.
# Usage: pymgr_count.py PORT AUTHKEY N
import sys
from multiprocessing.managers import AcquirerProxy, BaseManager, DictProxy


class M(BaseManager):
    pass


M.register("get_lock", proxytype=AcquirerProxy)
M.register("get_counter", proxytype=DictProxy)
m = M(address=("127.0.0.1", int(sys.argv[1])), authkey=sys.argv[2].encode())
m.connect()
lock, counter = m.get_lock(), m.get_counter()
for _ in range(int(sys.argv[3])):
    with lock:
        counter["n"] = counter.get("n", 0) + 1
print("counted", flush=True)
