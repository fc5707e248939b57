# Proxies stored in a manager's containers (Python 3.6+'s nested proxies): they come back as
# working proxies. Run against an ipckit server (PORT) or Python's own SyncManager ("own"),
# the transcripts must match (tests/test_python_manager.cpp).
# Usage: pymgr_nested.py PORT|own AUTHKEY
import sys
from multiprocessing import current_process
from multiprocessing.managers import SyncManager
authkey = sys.argv[2].encode()
current_process().authkey = authkey  # unpickled proxies authenticate with the process's key
if sys.argv[1] == "own":
    m = SyncManager(address=("127.0.0.1", 0), authkey=authkey)
    m.start()
else:
    m = SyncManager(address=("127.0.0.1", int(sys.argv[1])), authkey=authkey)
    m.connect()
d = m.dict()
q = m.Queue()
inner = m.list([1, 2])
ns = m.Namespace()
d["q"] = q
d["l"] = inner
ns.d = d
q.put("via d")
print(type(d["q"]).__name__, type(d["l"]).__name__, type(ns.d).__name__)
print(d["q"].get(), d["l"][1], ns.d["l"][0])
d["l"].append(3)
print(inner, len(d), d["q"])
del q, inner
print(d["l"], d.get("q").qsize())
lst = m.list([m.Value("i", 7)])
print(lst[0].value, lst[0])
print("done")
