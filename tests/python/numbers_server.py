#!/usr/bin/python3
# The handout's numbers server, verbatim but for the key taken from argv.
import sys

import sysv_ipc

key = int(sys.argv[1], 0)

mq = sysv_ipc.MessageQueue(key, sysv_ipc.IPC_CREAT)

value = 1
while value:
    try:
        value = int(input())
    except:
        print("Input error, try again!")
    message = str(value).encode()
    mq.send(message)

mq.remove()
