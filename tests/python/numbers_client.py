#!/usr/bin/python3
# The handout's numbers client, verbatim but for the key taken from argv.
import sys

import sysv_ipc

key = int(sys.argv[1], 0)

mq = sysv_ipc.MessageQueue(key)

while True:
    message, t = mq.receive()
    value = message.decode()
    value = int(value)
    if value:
        print("received:", value)
    else:
        print("exiting.")
        break
