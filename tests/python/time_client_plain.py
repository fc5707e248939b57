#!/usr/bin/python3
"""A handout-style time client: COUNT time requests (type 1, empty), each answered with
type 3. Prints each answer."""
import sys

import sysv_ipc

key = int(sys.argv[1], 0)
count = int(sys.argv[2])
mq = sysv_ipc.MessageQueue(key)
for _ in range(count):
    mq.send(b"", type=1)
    message, t = mq.receive(type=3)
    print(message.decode())
