# The remote-manager pattern of Python's documentation against a server that exposes named
# objects: QueueManager.register('get_queue') and nothing else on the client side.
# Usage: pymgr_expose.py PORT AUTHKEY   (prints what it read; puts three jobs)
import sys
from multiprocessing.managers import BaseManager


class QueueManager(BaseManager):
    pass


QueueManager.register("get_queue")
QueueManager.register("get_scores")
m = QueueManager(address=("127.0.0.1", int(sys.argv[1])), authkey=sys.argv[2].encode())
m.connect()
queue = m.get_queue()
scores = m.get_scores()
print("from C++:", queue.get(timeout=20), scores["cpp"])
for i in range(3):
    queue.put("job-%d" % i)
scores["python"] = 3
print(scores)
