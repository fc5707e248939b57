// Asking blocking calls to stop.
//
// ipckit retries system calls interrupted by a signal (EINTR), so a stray signal
// never surfaces as a failure. To wake a blocked call on purpose, request a stop:
// from a signal handler (install_stop_handler does it for you) or from any thread.
// Blocking calls then throw InterruptedError.
#pragma once

#include <initializer_list>

namespace ipckit {

// Async-signal-safe. Blocked ipckit calls in this process notice it the next time
// they are interrupted; the handler installed by install_stop_handler interrupts them.
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
