#include "time_service.hpp"

#include <pthread.h>
#include <signal.h>
#include <sys/msg.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <ctime>
#include <mutex>
#include <ostream>
#include <set>
#include <thread>
#include <vector>

#include "ipckit/error.hpp"
#include "ipckit/signals.hpp"
#include "ipckit/sysv/message_queue.hpp"
#include "line_reader.hpp"
#include "numbers.hpp"

namespace ipckit::programs {

std::string asctime_now() {
    std::time_t now = std::time(nullptr);
    std::tm local{};
    ::localtime_r(&now, &local);
    char text[64];
    ::asctime_r(&local, text);
    std::string result(text);
    if (!result.empty() && result.back() == '\n') result.pop_back();
    return result;
}

namespace {

constexpr auto sweep_interval = std::chrono::milliseconds(200);

bool process_exists(long pid) {
    if (pid <= 0 || pid > 0x3fffffff) return false;
    return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

sysv::MessageQueue create_queue(const TimeServerOptions& options, std::ostream& log) {
    try {
        return sysv::MessageQueue(options.key, sysv::IPC_CREX);
    } catch (const ExistentialError& e) {
        if (e.errno_value() != EEXIST) throw;
        if (!options.replace) {
            throw ExistentialError(
                EEXIST, "message queue " + sysv::format_key(options.key) +
                            " already exists (a stale queue from a crashed server?): remove "
                            "it with `ipckit mq rm " +
                            sysv::format_key(options.key) + "` or `ipcrm -Q " +
                            sysv::format_key(options.key) +
                            "`, or start the server with --replace");
        }
        sysv::MessageQueue(options.key).remove();
        log << "time server: replaced the stale queue " << sysv::format_key(options.key) << '\n';
        return sysv::MessageQueue(options.key, sysv::IPC_CREX);
    }
}

// Replies addressed to clients that may have died before taking them. A reply to a
// dead client would stay on the queue forever (and reach a later process that reuses
// the PID), so a sweeper thread takes such replies back. It sleeps while no reply is
// outstanding, so an idle server uses no CPU, and it keeps the request loop free of
// timeouts.
class ReplySweeper {
  public:
    explicit ReplySweeper(int queue_id) : queue_id_(queue_id) {
        // The stop signals must reach the request loop, not this thread.
        sigset_t stop_signals, previous;
        sigemptyset(&stop_signals);
        for (int signo : {SIGINT, SIGTERM, SIGHUP})
            sigaddset(&stop_signals, signo);
        pthread_sigmask(SIG_BLOCK, &stop_signals, &previous);
        thread_ = std::thread([this] { run(); });
        pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    }
    ReplySweeper(const ReplySweeper&) = delete;
    ReplySweeper& operator=(const ReplySweeper&) = delete;
    ~ReplySweeper() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_one();
        thread_.join();
    }

    void replied_to(long type) {
        bool was_empty;
        {
            std::lock_guard lock(mutex_);
            was_empty = pending_.empty();
            pending_.insert(type);
        }
        if (was_empty) wake_.notify_one();
    }

  private:
    void run() {
        std::unique_lock lock(mutex_);
        for (;;) {
            wake_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
            if (stopping_) return;
            if (wake_.wait_for(lock, sweep_interval, [this] { return stopping_; })) return;
            std::set<long> candidates = pending_;
            lock.unlock();
            auto finished = sweep(candidates);
            lock.lock();
            for (long type : finished)
                pending_.erase(type);
        }
    }

    // Returns the reply types that need no more watching.
    std::vector<long> sweep(const std::set<long>& candidates) const {
        msqid_ds ds{};
        if (msgctl(queue_id_, IPC_STAT, &ds) != 0 || ds.msg_qnum == 0) {
            return {candidates.begin(), candidates.end()};  // gone, or every reply taken
        }
        std::vector<long> finished;
        struct {
            long type;
            char text[256];
        } reply{};
        for (long type : candidates) {
            if (process_exists(type)) continue;
            while (msgrcv(queue_id_, &reply, sizeof reply.text, type, IPC_NOWAIT | MSG_NOERROR) >=
                   0) {
            }
            finished.push_back(type);
        }
        return finished;
    }

    int queue_id_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::set<long> pending_;
    bool stopping_ = false;
    std::thread thread_;
};

// asctime for the current second, formatted once per second.
class SecondClock {
  public:
    const std::string& now() {
        std::time_t t = std::time(nullptr);
        if (t != second_) {
            second_ = t;
            text_ = asctime_now();
        }
        return text_;
    }

  private:
    std::time_t second_ = 0;
    std::string text_;
};

}  // namespace

int time_server(const TimeServerOptions& options, std::ostream& log) {
    install_stop_handler({SIGINT, SIGTERM, SIGHUP});
    sysv::MessageQueue mq = create_queue(options, log);
    mq.set_auto_remove(true);  // removed however we leave, exception included
    if (options.verbose) log << "time server: listening on " << mq.describe() << std::endl;
    ReplySweeper sweeper(mq.id());
    SecondClock clock;
    sysv::ReceiveOptions receive_requests;
    receive_requests.type = -stop_request_type;  // types 1 and 2 only, never a reply
    receive_requests.spin = options.spin;
    sysv::MessageBuffer request(mq.max_message_size());
    for (;;) {
        try {
            mq.receive_into(request, receive_requests);
        } catch (const InterruptedError&) {
            log << "time server: stopped by signal " << stop_signal() << "; removing "
                << mq.describe() << std::endl;
            mq.remove();
            return 0;
        }
        if (request.type() == stop_request_type) {
            if (options.verbose) log << "time server: stop request; removing the queue\n";
            mq.remove();
            return 0;
        }
        long reply_type = plain_reply_type;
        if (request.size() > 0) {
            auto parsed = python_int(request.text());
            long value = 0;
            if (parsed && parsed->size() < 12) value = std::stol(*parsed);
            if (value < plain_reply_type) {
                if (options.verbose) {
                    log << "time server: ignored a request with a bad reply type \""
                        << request.text() << "\"\n";
                }
                continue;
            }
            reply_type = value;
        }
        const std::string& now = clock.now();
        mq.send(now, sysv::type(reply_type));
        if (reply_type != plain_reply_type) sweeper.replied_to(reply_type);
        if (options.verbose) {
            log << "time server: time request, replied \"" << now << "\" with type " << reply_type
                << std::endl;
        }
    }
}

namespace {

class Client {
  public:
    Client(const TimeClientOptions& options, std::ostream& out)
        : options_(options), out_(out), mq_(options.key) {
        reply_type_ = options.plain ? plain_reply_type : static_cast<long>(::getpid());
        // A dead process with our PID may have left an answer: it is not ours.
        try {
            if (!options.plain) {
                for (;;)
                    mq_.receive(sysv::type(reply_type_), sysv::nonblocking);
            }
        } catch (const BusyError&) {
        }
    }

    void ask_time() { ask_times(1); }

    // `count` requests with up to `window` of them in flight: every answer carries our
    // type, so they come back in order, and the process sleeps once per window instead
    // of once per request.
    void ask_times(long count, long window = 1) {
        const std::string request = options_.plain ? "" : std::to_string(reply_type_);
        sysv::ReceiveOptions wait;
        wait.type = reply_type_;
        wait.timeout = options_.timeout;
        wait.spin = options_.spin;
        long sent = 0;
        for (long received = 0; received < count; ++received) {
            while (sent < count && sent - received < window) {
                mq_.send(request, sysv::type(time_request_type));
                ++sent;
            }
            auto reply = mq_.receive(wait);
            out_ << reply.data << '\n';
        }
        out_.flush();
    }

    void stop_server() { mq_.send(std::string_view{}, sysv::type(stop_request_type)); }

  private:
    const TimeClientOptions& options_;
    std::ostream& out_;
    sysv::MessageQueue mq_;
    long reply_type_;
};

}  // namespace

int time_client(const TimeClientOptions& options, std::ostream& out, std::ostream& err) {
    install_stop_handler({SIGINT, SIGTERM, SIGHUP});
    try {
        Client client(options, out);
        if (options.request) {
            if (*options.request == "stop") {
                client.stop_server();
                return 0;
            }
            // The handout's protocol has one answer type for everyone: no pipelining there.
            client.ask_times(options.count, options.plain ? 1 : options.window);
            return 0;
        }
        // Interactive, as the handout asks: prompt for the message type.
        LineReader input(options.input_fd);
        std::string line;
        for (;;) {
            out << "Message type (1: time request, 2: stop the server): " << std::flush;
            auto status = input.next(line);
            if (status != LineReader::Status::line) {
                out << '\n';
                return 0;
            }
            auto type = python_int(line);
            if (type == "1") {
                client.ask_time();
            } else if (type == "2") {
                client.stop_server();
                out << "stop request sent" << std::endl;
                return 0;
            } else {
                out << "Input error, try again!" << std::endl;
            }
        }
    } catch (const BusyError& e) {
        if (!e.timed_out()) throw;
        err << "time client: no reply from the time server on " << sysv::format_key(options.key)
            << " within the timeout (is the server running?)\n";
        return 1;
    } catch (const InterruptedError&) {
        err << "time client: stopped by signal " << stop_signal() << '\n';
        return 1;
    } catch (const ExistentialError& e) {
        if (e.errno_value() == ENOENT) throw;
        err << "time client: the time server's queue " << sysv::format_key(options.key)
            << " was removed (the server stopped)\n";
        return 1;
    }
}

}  // namespace ipckit::programs
