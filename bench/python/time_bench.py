#!/usr/bin/python3
"""Python sysv_ipc baseline for the time server: the same protocol as ipckit's
(receive with type -2; reply type = the client's PID from the payload; type 2 stops).

Usage: time_bench.py CLIENTS REQUESTS_PER_CLIENT   -> prints requests per second
"""
import os
import sys
import time

import sysv_ipc

clients, per_client = int(sys.argv[1]), int(sys.argv[2])
mq = sysv_ipc.MessageQueue(None, sysv_ipc.IPC_CREX)
try:
    server = os.fork()
    if server == 0:
        while True:
            message, t = mq.receive(type=-2)
            if t == 2:
                break
            reply_type = int(message) if message else 3
            mq.send(time.asctime().encode(), type=reply_type)
        os._exit(0)

    start_r, start_w = os.pipe()
    pids = []
    for _ in range(clients):
        pid = os.fork()
        if pid == 0:
            os.read(start_r, 1)
            me = os.getpid()
            request = str(me).encode()
            for _ in range(per_client):
                mq.send(request, type=1)
                mq.receive(type=me)
            os._exit(0)
        pids.append(pid)
    begin = time.perf_counter()
    os.write(start_w, b"x" * clients)
    for pid in pids:
        os.waitpid(pid, 0)
    elapsed = time.perf_counter() - begin
    mq.send(b"", type=2)
    os.waitpid(server, 0)
    print(clients * per_client / elapsed)
finally:
    mq.remove()
