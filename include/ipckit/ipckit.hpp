// Everything ipckit offers.
#pragma once

#include "ipckit/error.hpp"
#include "ipckit/lock.hpp"
#include "ipckit/manager.hpp"
#include "ipckit/object.hpp"
#include "ipckit/pipe.hpp"
#include "ipckit/process.hpp"
#include "ipckit/queue.hpp"
#include "ipckit/range.hpp"
#include "ipckit/repr.hpp"
#include "ipckit/shared.hpp"
#include "ipckit/shared_arena.hpp"
#include "ipckit/signals.hpp"
#include "ipckit/sysv/ipc.hpp"
#include "ipckit/sysv/message_queue.hpp"
#include "ipckit/sysv/semaphore.hpp"
#include "ipckit/sysv/shared_memory.hpp"
