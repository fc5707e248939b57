# list.sort through a manager proxy against an ipckit server: reverse=True sorts as Python
# does; a key function is refused with TypeError naming it (ipckit never calls a function a
# client sends, docs/python-interop.md), the list is left as it was and the connection
# stays usable.
# Usage: pymgr_sort.py PORT AUTHKEY
import sys
from multiprocessing.managers import SyncManager

m = SyncManager(address=("127.0.0.1", int(sys.argv[1])), authkey=sys.argv[2].encode())
m.connect()
l = m.list(["b", "A", "c", "dd"])
l.sort(reverse=True)
print(l)
l.sort()
print(l)
for key in (len, str.lower):
    try:
        l.sort(key=key)
        print("sorted with", key)
    except TypeError as e:
        print("TypeError:", e)
l.sort(reverse=False)
print(l, len(l))
