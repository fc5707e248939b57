// The scenarios `ipckit demo` runs, one per part of the handout.
// Each prints a few lines of narrative and removes everything it creates.
#pragma once

namespace ipckit::demo {

void message_queue();  // one process to another through a queue
// two processes count in a shared memory segment under a semaphore
void semaphore_and_shared_memory();

}  // namespace ipckit::demo
