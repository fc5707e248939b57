# Creates and uses a dict, a list and a queue on a manager server, says "ready", then waits
# for its stdin to close (the test kills it before that).
# Usage: pymgr_hold.py PORT AUTHKEY
import sys
from multiprocessing.managers import SyncManager

m = SyncManager(address=("127.0.0.1", int(sys.argv[1])), authkey=sys.argv[2].encode())
m.connect()
d = m.dict({"k": 1})
l = m.list([1, 2])
q = m.Queue()
q.put(len(d) + len(l))
print("ready", q.get(), flush=True)
sys.stdin.read()
