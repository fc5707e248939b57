#!/usr/bin/python3
"""Receives COUNT messages with sysv_ipc and prints each as 'TYPE HEX'."""
import sys

import sysv_ipc

key = int(sys.argv[1], 0)
count = int(sys.argv[2])
mq = sysv_ipc.MessageQueue(key, max_message_size=8192)
for _ in range(count):
    data, msg_type = mq.receive()
    print(msg_type, data.hex())
