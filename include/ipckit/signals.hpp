// Asking blocking calls to stop.
//
// ipckit retries system calls interrupted by a signal (EINTR), so a stray signal
// never surfaces as a failure. To wake blocked calls on purpose, request a stop:
// from a signal handler (install_stop_handler does it for you) or from any thread.
//
// request_stop() wakes every thread of the process that is waiting in one of these calls
// at that moment, and the call throws InterruptedError:
//   - sysv::MessageQueue send and receive (msgsnd, msgrcv), with or without a timeout;
//   - sysv::Semaphore acquire, release, Z (semop) and the wait for a new semaphore's
//     initialisation;
//   - the wait for an ipckit::Lock held by someone else (Lock::lock, try_lock_for, and
//     Value/Array accesses, which take their lock);
//   - a manager call waiting for its answer;
//   - Queue<T>/ByteQueue/ObjectQueue put, get and join (ipckit/queue.hpp), and a pipe
//     Connection's recv and poll (ipckit/pipe.hpp).
// While the stop stays requested (until clear_stop), the queue and semaphore calls
// above throw InterruptedError before they start, and a lock that has to wait throws
// instead; a manager call started after the request waits for its answer as usual.
// Not woken: Process::join (join with a timeout, or stop the child) and the program's
// own system calls.
//
// How: each of those calls registers its thread while it waits; request_stop sets the
// flag, then fires a per-thread timer of every registered thread, whose signal
// (SIGRTMIN+3, with a handler that does nothing) interrupts the call; the timer ticks
// again every 5 ms until the call has noticed, so a wake-up is never lost to a race.
// A thread's first waiting call unblocks SIGRTMIN+3 in that thread and leaves it
// unblocked (a call with a timeout restores the mask it found): a thread that blocks
// SIGRTMIN+3 again afterwards is not woken by stop requests.
#pragma once

#include <initializer_list>

namespace ipckit {

// Async-signal-safe; callable from any thread. Wakes the calls listed above.
void request_stop() noexcept;
bool stop_requested() noexcept;
// Clears a previous request (for programs that go on after handling one).
void clear_stop() noexcept;
// The signal that the last stop request came from, or 0.
int stop_signal() noexcept;

// Installs a handler for these signals that calls request_stop(). The handler does
// not set SA_RESTART, so a blocked msgrcv/semop returns and notices the request.
void install_stop_handler(std::initializer_list<int> signals);

}  // namespace ipckit
