#!/usr/bin/python3
"""Python multiprocessing baselines for bench/bench_queue.cpp.

Usage:
  queue_bench.py queue SIZE COUNT [PRODUCERS CONSUMERS]
      multiprocessing.Queue(1024): PRODUCERS processes put COUNT bytes objects of SIZE bytes
      in all, CONSUMERS processes get them. Prints messages per second.
  queue_bench.py poolmap COUNT CHUNKSIZE PROCESSES
      Pool(PROCESSES).map(square, range(COUNT), CHUNKSIZE), the pool already started.
      Prints the seconds the map took.
"""
import multiprocessing as mp
import sys
import time


def produce(q, n, size):
    payload = b"x" * size
    for _ in range(n):
        q.put(payload)


def consume(q, n):
    for _ in range(n):
        q.get()


def square(x):
    return x * x


def queue_rate(size, count, producers, consumers):
    q = mp.Queue(1024)
    procs = [mp.Process(target=produce, args=(q, count // producers, size))
             for _ in range(producers)]
    procs += [mp.Process(target=consume, args=(q, count // consumers))
              for _ in range(consumers)]
    start = time.perf_counter()
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    return (count // producers) * producers / (time.perf_counter() - start)


def pool_map_seconds(count, chunksize, processes):
    with mp.Pool(processes) as pool:
        pool.map(square, range(processes))  # the workers are up
        start = time.perf_counter()
        result = pool.map(square, range(count), chunksize)
        elapsed = time.perf_counter() - start
    assert result[-1] == (count - 1) ** 2
    return elapsed


if __name__ == "__main__":
    mp.set_start_method("fork")
    mode = sys.argv[1]
    if mode == "queue":
        size, count = int(sys.argv[2]), int(sys.argv[3])
        producers = int(sys.argv[4]) if len(sys.argv) > 4 else 1
        consumers = int(sys.argv[5]) if len(sys.argv) > 5 else 1
        print(f"{queue_rate(size, count, producers, consumers):.0f}")
    elif mode == "poolmap":
        print(f"{pool_map_seconds(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])):.6f}")
    else:
        sys.exit(__doc__)
