#!/usr/bin/python3
"""Python sysv_ipc baseline: one-way throughput and ping-pong round trip.

Usage: mq_bench.py throughput SIZE COUNT | pingpong SIZE COUNT
Prints one number: messages per second (throughput) or microseconds per round trip.
"""
import os
import sys
import time

import sysv_ipc

mode, size, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
mq = sysv_ipc.MessageQueue(None, sysv_ipc.IPC_CREX, max_message_size=max(size, 16))
payload = b"x" * size
try:
    pid = os.fork()
    if pid == 0:
        try:
            if mode == "throughput":
                for _ in range(count):
                    mq.receive()
            else:
                for _ in range(count):
                    message, _ = mq.receive(type=1)
                    mq.send(message, type=2)
        finally:
            os._exit(0)
    start = time.perf_counter()
    if mode == "throughput":
        for _ in range(count):
            mq.send(payload)
        os.waitpid(pid, 0)
        elapsed = time.perf_counter() - start
        print(count / elapsed)
    else:
        for _ in range(count):
            mq.send(payload, type=1)
            mq.receive(type=2)
        elapsed = time.perf_counter() - start
        os.waitpid(pid, 0)
        print(elapsed / count * 1e6)
finally:
    mq.remove()
