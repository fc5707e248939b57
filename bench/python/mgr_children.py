# The child processes of the manager benchmarks (mgr_sync_bench.py, mgr_rounds.py): what
# the second process of a two-process row does, on proxies of Python's SyncManager.


def echo(q_in, q_out):
    """Gets items from q_in and puts each back on q_out, until None."""
    while True:
        item = q_in.get()
        q_out.put(item)
        if item is None:
            return


def consume(q, done, batch):
    """Gets batches of `batch` items from q and puts 1 on done after each, until None."""
    while True:
        for _ in range(batch):
            if q.get() is None:
                return
        done.put(1)


def pong(e1, e2):
    """Waits for e1, clears it and sets e2, forever (killed at the end)."""
    while True:
        e1.wait()
        e1.clear()
        e2.set()
