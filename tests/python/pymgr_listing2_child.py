# The handout's second listing, its child in Python: multiprocessing.Process runs f(d, l) on
# the dict and list that an ipckit (C++) parent made on an ipckit server, reached by the
# remote-manager pattern of Python's documentation.
# Usage: pymgr_listing2_child.py PORT AUTHKEY
import sys
from multiprocessing import Process
from multiprocessing.managers import BaseManager


def f(d, l):
    d[1] = "one"
    d["two"] = 2
    l.reverse()


class ListingManager(BaseManager):
    pass


ListingManager.register("get_dict")
ListingManager.register("get_list")

if __name__ == "__main__":
    m = ListingManager(address=("127.0.0.1", int(sys.argv[1])), authkey=sys.argv[2].encode())
    m.connect()
    p = Process(target=f, args=(m.get_dict(), m.get_list()))
    p.start()
    p.join()
    sys.exit(p.exitcode)
