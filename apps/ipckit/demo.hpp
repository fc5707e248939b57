// The scenarios `ipckit demo` runs, one per part of the handout.
// Each prints a few lines of narrative and removes everything it creates.
#pragma once

namespace ipckit::demo {

void message_queue();  // one process to another through a queue
void numbers();        // the handout's numbers server and client
void time_server();    // exercise 2: a time server and several clients
// two processes count in a shared memory segment under a semaphore
void semaphore_and_shared_memory();
void shared_state();  // Value and Array: the first listing and the Fibonacci return
void manager();       // a manager's dict and list changed by a child
// the Fibonacci return through a Queue; a Pool that survives the death of a worker
void queue_and_pool();
void worker_pool();  // manager queues feed tasks to worker processes, collect results

}  // namespace ipckit::demo
