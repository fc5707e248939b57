# A Python client waits on a Condition that a C++ client notifies (the server exposes both
# under type ids), then makes a Condition over its own manager Lock.
# Usage: pymgr_condition.py PORT AUTHKEY
import sys
from multiprocessing.managers import BaseManager, ConditionProxy, NamespaceProxy, SyncManager


class M(BaseManager):
    pass


M.register("get_condition", proxytype=ConditionProxy)
M.register("get_namespace", proxytype=NamespaceProxy)
address, authkey = ("127.0.0.1", int(sys.argv[1])), sys.argv[2].encode()
m = M(address=address, authkey=authkey)
m.connect()
c, ns = m.get_condition(), m.get_namespace()
print(c)
with c:
    print("waiting", ns.ready, flush=True)
    print("woken", c.wait_for(lambda: ns.ready == 2, 60), ns.ready, flush=True)
print(c)

s = SyncManager(address=address, authkey=authkey)
s.connect()
lock = s.Lock()
c2 = s.Condition(lock)
print(c2.acquire(), lock.acquire(False))
print(c2)
print(c2.wait(0.01))
c2.release()
print(c2)
print(lock.acquire(False))
lock.release()
