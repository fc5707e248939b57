#!/usr/bin/python3
"""Attaches the segment with sysv_ipc and prints BYTE_COUNT bytes from OFFSET as hex."""
import sys

import sysv_ipc

key = int(sys.argv[1], 0)
byte_count = int(sys.argv[2])
offset = int(sys.argv[3])
shm = sysv_ipc.SharedMemory(key)
print(shm.size, shm.read(byte_count, offset).hex())
shm.detach()
