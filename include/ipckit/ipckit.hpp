// Everything ipckit offers.
#pragma once

#include "ipckit/error.hpp"
#include "ipckit/process.hpp"
#include "ipckit/signals.hpp"
#include "ipckit/sysv/ipc.hpp"
#include "ipckit/sysv/message_queue.hpp"
#include "ipckit/manager.hpp"
#include "ipckit/object.hpp"
