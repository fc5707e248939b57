# A Python client of a manager server using only the standard library: every type of
# SyncManager, printed. Run against an ipckit server (PORT) or against Python's own
# SyncManager ("own"), the transcripts must match (tests/test_python_manager.cpp).
# Usage: pymgr_types.py PORT|own AUTHKEY
import queue
import sys
from multiprocessing.managers import SyncManager

authkey = sys.argv[2].encode()
if sys.argv[1] == "own":
    m = SyncManager(address=("127.0.0.1", 0), authkey=authkey)
    m.start()
else:
    m = SyncManager(address=("127.0.0.1", int(sys.argv[1])), authkey=authkey)
    m.connect()

d = m.dict()
d[1] = "one"
d["two"] = 2
d[(3, 4)] = [5.5, None, True, b"bytes"]
print(d)
print(d[1], len(d), "two" in d, 7 in d, d.get("nope"), d.get("nope", 0))
print(d.keys(), d.values(), d.items())
print(d.setdefault("new", "x"), d.pop("new"), d.pop("gone", "default"))
d.update({"u": 1}, v=2)
print(sorted(k for k in d if isinstance(k, str)))
try:
    d["missing"]
except KeyError as e:
    print("KeyError", repr(e))
del d["u"]
print(d.popitem(), d.copy())
print(str(d), repr(d._getvalue()))

l = m.list(list(range(10)))
l.reverse()
print(l)
l.append(-1)
l.extend([20, 30])
l.insert(0, 99)
l.sort()
print(l, len(l), l[0], l[-1], l[2:5], l[::4])
l[0] = "first"
l[1:3] = ["a", "b", "c"]
del l[-1]
print(l, l.count("a"), l.index("b"), l.pop(), l.pop(0))
l.remove("a")
print(l + [1], l * 2 == l._getvalue() * 2)
try:
    l[100]
except IndexError as e:
    print("IndexError", e)
try:
    l.index("nothing")
except ValueError:
    print("ValueError")
l2 = m.list()
l2 += [1, 2]
print(l2, [x for x in l2])

q = m.Queue()
q.put("a")
q.put((1, 2), timeout=1)
q.put_nowait({"k": "v"})
print(q.qsize(), q.empty(), q.full())
print(q.get(), q.get(timeout=1), q.get_nowait(), q.empty())
try:
    q.get(timeout=0.1)
except queue.Empty:
    print("Empty")
try:
    q.get_nowait()
except queue.Empty:
    print("Empty")
q1 = m.Queue(1)
q1.put(1)
try:
    q1.put(2, timeout=0.1)
except queue.Full:
    print("Full")
jq = m.JoinableQueue()
jq.put("job")
print(jq.get())
jq.task_done()
jq.join()
print("joined")

lock = m.Lock()
print(lock)
print(lock.acquire(), lock.acquire(False), lock.acquire(True, 0.1))
print(lock)
lock.release()
with lock:
    print("with lock")
print(lock)
rlock = m.RLock()
print(rlock)
print(rlock.acquire(), rlock.acquire())
rlock.release()
rlock.release()
sem = m.Semaphore(2)
print(sem)
print(sem.acquire(), sem.acquire(), sem.acquire(timeout=0.1))
sem.release()
print(sem)
bsem = m.BoundedSemaphore(1)
print(bsem.acquire(), bsem.acquire(False))
bsem.release()
try:
    bsem.release()
except ValueError:
    print("ValueError")

ev = m.Event()
print(ev, ev.is_set(), ev.wait(0.1))
ev.set()
print(ev, ev.is_set(), ev.wait(), ev.wait(0.1))
ev.clear()
print(ev.is_set())

ns = m.Namespace()
ns.x = 1
ns.name = "ipc"
print(ns, ns.x, ns.name)
del ns.x
try:
    ns.x
except AttributeError as e:
    print("AttributeError", e)
try:
    del ns.missing
except AttributeError as e:
    print("AttributeError", e)
print(m.Namespace(b=[1, 2], a=1))

v = m.Value("i", 0)
print(v, v.value, v.get())
v.value = 41
v.set(v.get() + 1)
print(v, v.value, m.Value("d", 1.5))

a = m.Array("i", [1, 2, 3])
print(a, len(a), a[0], a[-1])
a[1] = 20
print(a, str(a))
try:
    a[5]
except IndexError as e:
    print("IndexError", e)
try:
    a[5] = 1
except IndexError as e:
    print("IndexError", e)

c = m.Condition()
print(c)
with c:
    print(c.wait(0.05), c.wait_for(lambda: True), c.wait_for(lambda: False, 0.05))
    c.notify()
    c.notify_all()
try:
    c.notify()
except RuntimeError as e:
    print("RuntimeError", e)
print("done")
