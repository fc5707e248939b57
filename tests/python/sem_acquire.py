#!/usr/bin/python3
"""Opens the semaphore with sysv_ipc, says 'waiting', and acquires it within TIMEOUT."""
import sys

import sysv_ipc

key = int(sys.argv[1], 0)
timeout = float(sys.argv[2])
sem = sysv_ipc.Semaphore(key)
print("waiting", flush=True)
try:
    sem.acquire(timeout)
except sysv_ipc.BusyError:
    print("timed out", flush=True)
    sys.exit(3)
print("acquired", sem.value, flush=True)
