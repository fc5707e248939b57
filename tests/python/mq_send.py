#!/usr/bin/python3
"""Sends messages with sysv_ipc: each stdin line is 'TYPE HEX' (HEX may be empty)."""
import sys

import sysv_ipc

key = int(sys.argv[1], 0)
mq = sysv_ipc.MessageQueue(key, max_message_size=8192)
for line in sys.stdin:
    parts = line.split()
    msg_type = int(parts[0])
    data = bytes.fromhex(parts[1]) if len(parts) > 1 else b""
    mq.send(data, type=msg_type)
