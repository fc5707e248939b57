# The dict a C++ client exposes holds a C++ queue proxy: Python gets it back as a proxy,
# puts into it, and stores a list proxy of its own for C++ to read.
# Usage: pymgr_nested_cpp.py PORT AUTHKEY
import sys
from multiprocessing import current_process
from multiprocessing.managers import BaseManager, DictProxy, SyncManager

address, authkey = ("127.0.0.1", int(sys.argv[1])), sys.argv[2].encode()
current_process().authkey = authkey  # unpickled proxies authenticate with the process's key


class M(BaseManager):
    pass


M.register("get_shared", proxytype=DictProxy)
m = M(address=address, authkey=authkey)
m.connect()
shared = m.get_shared()
shared["q"].put("from python")
s = SyncManager(address=address, authkey=authkey)
s.connect()
shared["l"] = s.list([1, 2, 3])
print(type(shared["q"]).__name__, shared["q"].qsize())
