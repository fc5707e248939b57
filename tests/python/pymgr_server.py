# A Python manager server (SyncManager.get_server().serve_forever()) on 127.0.0.1, port
# chosen by the kernel; prints the port. It also registers get_queue, a queue of its own
# (the remote-manager pattern of Python's documentation), holding 'from-python', and a
# user class, Counter (a new one per call of the typeid, as BaseManager.register(name, cls),
# built with the create request's arguments), whose methods return proxies (method_to_typeid).
# Usage: pymgr_server.py AUTHKEY
import queue
import sys
import threading
from multiprocessing.managers import SyncManager

jobs = queue.Queue()
jobs.put("from-python")


def get_queue():
    return jobs


class Counter:
    def __init__(self, start=0, step=1):
        self.count = start
        self.step = step

    def spawn(self, start=0):  # a #PROXY answer: a new Counter (typeid Spawned)
        return Counter(start)

    def snapshot(self):  # a #PROXY answer of a SyncManager typeid (dict)
        return {"count": self.count}

    def digits(self):  # an iterator returned as a proxy (SyncManager's Iterator)
        return iter(str(self.count))

    def step_by(self):
        return self.step

    def increment(self, by=1):
        self.count += by
        return self.count

    def value(self):
        return self.count

    def fail(self, message):
        raise OverflowError(message)

    def hang(self):  # never answers (a server busy in a long method)
        threading.Event().wait()


SyncManager.register("get_queue", callable=get_queue)
# Methods returning proxies, as Python's documentation registers them (method_to_typeid):
# Counter(*args) on create; a spawned Counter is registered without a create method.
returns_proxies = {"spawn": "Spawned", "snapshot": "dict", "digits": "Iterator"}
SyncManager.register("Counter", Counter, method_to_typeid=returns_proxies)
SyncManager.register("Spawned", create_method=False, method_to_typeid=returns_proxies)
m = SyncManager(address=("127.0.0.1", 0), authkey=sys.argv[1].encode())
server = m.get_server()
print(server.address[1], flush=True)
server.serve_forever()
