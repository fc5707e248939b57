# Blocks on objects another process (C++) controls: an exposed queue and an exposed event.
# Usage: pymgr_wait.py PORT AUTHKEY
import sys
from multiprocessing.managers import BaseManager


class M(BaseManager):
    pass


M.register("get_queue")
M.register("get_event")
m = M(address=("127.0.0.1", int(sys.argv[1])), authkey=sys.argv[2].encode())
m.connect()
print("got", m.get_queue().get(timeout=60), flush=True)
print("event", m.get_event().wait(60), flush=True)
