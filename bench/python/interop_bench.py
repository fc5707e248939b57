# Issue 12's manager interop benchmark, Python side (standard library only), run by
# bench/bench_python_interop.cpp.
#   interop_bench.py serve AUTHKEY
#       Python's own SyncManager server (get_server().serve_forever()) on 127.0.0.1, port
#       chosen by the kernel; prints the port, serves until killed.
#   interop_bench.py client PORT AUTHKEY N TRIES
#       One Python client (SyncManager(...).connect()) against the server on PORT: N dict
#       sets, N dict gets, N queue put+get pairs; best of TRIES per operation. Prints
#       "dict_set RATE CEILING", "dict_get ...", "queue_put_get ..." (calls/s; a pair is 2
#       calls). CEILING is calls per second of this client's own CPU time in the best try:
#       no server, however fast, can make this client go faster than that.
import sys
import time
from multiprocessing.managers import SyncManager


def serve(authkey):
    m = SyncManager(address=("127.0.0.1", 0), authkey=authkey)
    server = m.get_server()
    print(server.address[1], flush=True)
    server.serve_forever()


def client(port, authkey, n, tries):
    m = SyncManager(address=("127.0.0.1", port), authkey=authkey)
    m.connect()
    d = m.dict()
    q = m.Queue()

    def dict_set():
        for i in range(n):
            d[i % 100] = i

    def dict_get():
        for i in range(n):
            d[i % 100]

    def queue_put_get():
        for i in range(n):
            q.put(i)
            q.get()

    for name, body, calls in (
        ("dict_set", dict_set, n),
        ("dict_get", dict_get, n),
        ("queue_put_get", queue_put_get, 2 * n),
    ):
        best, ceiling = 0.0, 0.0
        for _ in range(tries):
            start, cpu = time.perf_counter(), time.process_time()
            body()
            rate = calls / (time.perf_counter() - start)
            if rate > best:
                best, ceiling = rate, calls / max(time.process_time() - cpu, 1e-9)
        print("%s %.1f %.1f" % (name, best, ceiling), flush=True)


if sys.argv[1] == "serve":
    serve(sys.argv[2].encode())
else:
    client(int(sys.argv[2]), sys.argv[3].encode(), int(sys.argv[4]), int(sys.argv[5]))
