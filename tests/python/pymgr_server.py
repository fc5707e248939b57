# A Python manager server (SyncManager.get_server().serve_forever()) on 127.0.0.1, port
# chosen by the kernel; prints the port. It also registers get_queue, a queue of its own
# (the remote-manager pattern of Python's documentation), holding 'from-python', and a
# user class, Counter (a new one per call of the typeid, as BaseManager.register(name, cls)).
# Usage: pymgr_server.py AUTHKEY
import queue
import sys
from multiprocessing.managers import SyncManager

jobs = queue.Queue()
jobs.put("from-python")


def get_queue():
    return jobs


class Counter:
    def __init__(self):
        self.count = 0

    def increment(self, by=1):
        self.count += by
        return self.count

    def value(self):
        return self.count

    def fail(self, message):
        raise OverflowError(message)


SyncManager.register("get_queue", callable=get_queue)
SyncManager.register("Counter", Counter)
m = SyncManager(address=("127.0.0.1", 0), authkey=sys.argv[1].encode())
server = m.get_server()
print(server.address[1], flush=True)
server.serve_forever()
