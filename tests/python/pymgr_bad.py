# Python clients that misbehave, then one that behaves: the server must serve the last.
# Usage: pymgr_bad.py PORT AUTHKEY
import sys
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client
from multiprocessing.managers import SyncManager

address = ("127.0.0.1", int(sys.argv[1]))
key = sys.argv[2].encode()
try:
    SyncManager(address=address, authkey=b"wrong key").connect()
    print("wrong key accepted")
except AuthenticationError:
    print("wrong key refused")

for what, payload in [("garbage", b"\x80\x04not a pickle"),
                      ("not a request", b"\x80\x04K\x01."),
                      ("over-long", b"x" * (1 << 17))]:
    c = Client(address, authkey=key)
    try:
        c.send_bytes(payload)
        c.recv_bytes()
        print(what, "answered")
    except (EOFError, ConnectionError):
        print(what, "closed")
    c.close()

m = SyncManager(address=address, authkey=key)
m.connect()
d = m.dict(still="serving")
print(d)
