#!/usr/bin/env python3
"""Python's pickle baseline for bench_pickle: encode (protocol 4, as ForkingPickler) and decode
a dict of ITEMS items {i: 'value-i'}, ROUNDS times; prints the best round trips per second
of five tries.

Usage: pickle_bench.py ITEMS ROUNDS
"""
import pickle
import sys
import time

items, rounds = int(sys.argv[1]), int(sys.argv[2])
d = {i: 'value-%d' % i for i in range(items)}
best = 0.0
for _ in range(5):
    start = time.perf_counter()
    for _ in range(rounds):
        pickle.loads(pickle.dumps(d, 4))
    best = max(best, rounds / (time.perf_counter() - start))
print(best)
