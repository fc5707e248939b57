// The scenarios `ipckit demo` runs, one per part of the handout.
// Each prints a few lines of narrative and removes everything it creates.
#pragma once

namespace ipckit::demo {

void message_queue();  // one process to another through a queue
void manager();        // a manager's dict and list changed by a child

}  // namespace ipckit::demo
