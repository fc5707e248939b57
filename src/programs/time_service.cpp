#include "ipckit/programs/time_service.hpp"

#include <pthread.h>
#include <signal.h>
#include <sys/msg.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <ostream>
#include <set>
#include <thread>
#include <vector>

#include "ipckit/error.hpp"
#include "ipckit/programs/line_reader.hpp"
#include "ipckit/programs/numbers.hpp"
#include "ipckit/signals.hpp"
#include "ipckit/sysv/message_queue.hpp"

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

// A request holds at most a reply type in decimal (20 characters): anything as long as
// this buffer is dropped as over-long. Receiving with MSG_NOERROR, a request of any size
// (up to msgmax) is taken off the queue instead of failing the receive.
constexpr std::size_t request_buffer_size = 64;

// Replies that did not fit the queue wait in the server's memory; past these limits the
// request is dropped instead (an ipckit client has at most 1000 requests in flight).
constexpr std::size_t waiting_replies_per_client = 1024;
constexpr std::size_t waiting_replies_in_all = 65536;

// How long --replace waits for a live server to answer a time request.
constexpr std::chrono::milliseconds replace_patience{500};

bool process_exists(long pid) {
    if (pid <= 0 || pid > 0x3fffffff) return false;
    return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

// Alive, and not a zombie: /proc/PID/stat's state.
bool process_alive(pid_t pid) {
    if (!process_exists(pid)) return false;
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text;
    if (!std::getline(stat, text)) return true;  // no /proc: trust kill(0)
    auto close = text.rfind(')');
    if (close == std::string::npos || close + 2 >= text.size()) return true;
    char state = text[close + 2];
    return state != 'Z' && state != 'X';
}

std::string process_name(pid_t pid) {
    std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
    std::string name;
    std::getline(comm, name);
    return name.empty() ? "?" : name;
}

// A message of the server's own type (its PID: no live client has that type), sent and
// taken back at once, records the server as the queue's last receiver (msg_lrpid). That
// is how `--replace` tells a live server's queue from a stale one.
void mark_as_receiver(int queue_id) {
    struct {
        long type;
        char text[1];
    } message{static_cast<long>(::getpid()), {}};
    if (msgsnd(queue_id, &message, 0, IPC_NOWAIT) == 0) {
        while (msgrcv(queue_id, &message, sizeof message.text, message.type,
                      IPC_NOWAIT | MSG_NOERROR) < 0 &&
               errno == EINTR) {
        }
    }
}

// Whether a server answers a time request on this queue within `patience`: the last
// receiver may be a client that has exited since, a moment after a live server's reply.
bool answers_time_requests(const sysv::MessageQueue& queue, std::chrono::milliseconds patience) {
    const long me = ::getpid();
    sysv::MessageQueue mq = sysv::MessageQueue::from_id(queue.id());
    try {
        mq.send(std::to_string(me), sysv::SendOptions{time_request_type, false, std::nullopt});
    } catch (const BusyError&) {
        return false;  // full: nobody takes the requests
    }
    sysv::ReceiveOptions answer;
    answer.type = me;
    answer.truncate = true;
    answer.timeout = patience;
    try {
        mq.receive(answer);
        return true;
    } catch (const BusyError&) {
        return false;
    }
}

sysv::MessageQueue create_queue(const TimeServerOptions& options, std::ostream& log) {
    const std::string key = sysv::format_key(options.key);
    try {
        return sysv::MessageQueue(options.key, sysv::IPC_CREX);
    } catch (const ExistentialError& e) {
        if (e.errno_value() != EEXIST) throw;
        if (!options.replace) {
            throw ExistentialError(
                EEXIST, "message queue " + key +
                            " already exists (a stale queue from a crashed server?): remove "
                            "it with `ipckit mq rm " +
                            key + "` or `ipcrm -Q " + key +
                            "`, or start the server with --replace");
        }
        // A live server is the queue's last receiver (it marks itself so when it starts,
        // and after each burst of replies), or, for a moment after a client took a reply
        // and left, its last sender: then it answers a time request.
        sysv::MessageQueue old(options.key);
        const auto info = old.info();
        const pid_t receiver = info.last_receive_pid;
        if (!options.force && receiver > 0 && process_alive(receiver)) {
            throw Error(EBUSY, "message queue " + key + " is in use: its last receiver, PID " +
                                   std::to_string(receiver) + " (" + process_name(receiver) +
                                   "), is alive (a running time server?); stop it with "
                                   "`ipckit time client --key " +
                                   key +
                                   " --request stop`, or replace the queue anyway with "
                                   "--replace --force");
        }
        if (!options.force && receiver > 0 && info.last_send_pid > 0 &&
            process_alive(info.last_send_pid) && answers_time_requests(old, replace_patience)) {
            throw Error(EBUSY, "message queue " + key +
                                   " is in use: a time server answered on it; stop it with "
                                   "`ipckit time client --key " +
                                   key +
                                   " --request stop`, or replace the queue anyway with "
                                   "--replace --force");
        }
        old.remove();
        log << "time server: replaced the stale queue " << key << '\n';
        return sysv::MessageQueue(options.key, sysv::IPC_CREX);
    }
}

// Starts a helper thread with the stop signals blocked: they must reach the request loop.
template <class Body>
std::thread start_helper(Body body) {
    sigset_t stop_signals, previous;
    sigemptyset(&stop_signals);
    for (int signo : {SIGINT, SIGTERM, SIGHUP})
        sigaddset(&stop_signals, signo);
    pthread_sigmask(SIG_BLOCK, &stop_signals, &previous);
    std::thread thread(std::move(body));
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    return thread;
}

// Replies addressed to clients that may have died before taking them. A reply to a
// dead client would stay on the queue forever (and reach a later process that reuses
// the PID), so a sweeper thread takes such replies back. It sleeps while no reply is
// outstanding, so an idle server uses no CPU, and it keeps the request loop free of
// timeouts. After a burst of replies it also records the server as the queue's last
// receiver again (a client that took a reply is the last receiver until then).
class ReplySweeper {
  public:
    explicit ReplySweeper(int queue_id) : queue_id_(queue_id) {
        thread_ = start_helper([this] { run(); });
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

    // Thread-safe.
    void replied_to(long type) {
        if (type == plain_reply_type) {
            // Plain replies cannot be told apart: only the last-receiver mark.
            if (!remark_.exchange(true)) {
                {
                    std::lock_guard lock(mutex_);
                }
                wake_.notify_one();
            }
            return;
        }
        remark_.store(true, std::memory_order_relaxed);
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
            wake_.wait(lock, [this] { return stopping_ || !pending_.empty() || remark_.load(); });
            if (stopping_) return;
            if (wake_.wait_for(lock, sweep_interval, [this] { return stopping_; })) return;
            std::set<long> candidates = pending_;
            bool remark = remark_.exchange(false);
            lock.unlock();
            auto finished = candidates.empty() ? std::vector<long>{} : sweep(candidates);
            if (remark) mark_as_receiver(queue_id_);
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
    std::atomic<bool> remark_{false};
    bool stopping_ = false;
    std::thread thread_;
};

// Sends the replies. The request loop never blocks on a reply: when the queue is full,
// the reply waits in memory and a sender thread delivers it once there is room, while
// the loop goes on taking requests (which frees room). Otherwise clients blocked in
// sending requests and a server blocked in sending a reply would wait for each other
// forever. Replies keep their order (all go through the thread while any waits).
class ReplySender {
  public:
    ReplySender(sysv::MessageQueue& mq, ReplySweeper& sweeper) : mq_(mq), sweeper_(sweeper) {
        thread_ = start_helper([this] { run(); });
    }
    ReplySender(const ReplySender&) = delete;
    ReplySender& operator=(const ReplySender&) = delete;
    ~ReplySender() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_one();
        thread_.join();
    }

    // False when the reply was dropped: too many replies already wait for this client.
    bool reply(long type, const std::string& text) {
        if (waiting_.load(std::memory_order_acquire) == 0) {
            try {
                mq_.send(text, sysv::SendOptions{type, false, std::nullopt});
                sweeper_.replied_to(type);
                return true;
            } catch (const BusyError&) {
                // The queue is full: the thread sends it.
            }
        }
        {
            std::lock_guard lock(mutex_);
            std::size_t& for_client = per_client_[type];
            if (for_client >= waiting_replies_per_client ||
                backlog_.size() >= waiting_replies_in_all) {
                if (for_client == 0) per_client_.erase(type);
                return false;
            }
            ++for_client;
            backlog_.emplace_back(type, text);
            waiting_.fetch_add(1, std::memory_order_release);
        }
        wake_.notify_one();
        return true;
    }

  private:
    void run() {
        std::unique_lock lock(mutex_);
        for (;;) {
            wake_.wait(lock, [this] { return stopping_ || !backlog_.empty(); });
            if (stopping_) return;
            auto [type, text] = backlog_.front();
            lock.unlock();
            Outcome outcome = deliver(type, text);
            lock.lock();
            if (outcome == Outcome::stopping) {
                // Wait for the request loop to end (the stop request stays set).
                wake_.wait(lock, [this] { return stopping_; });
                return;
            }
            if (outcome == Outcome::retry) continue;
            backlog_.pop_front();
            if (--per_client_[type] == 0) per_client_.erase(type);
            waiting_.fetch_sub(1, std::memory_order_release);
        }
    }

    // done: the reply needs no more attention (sent, addressed to a dead client, or the
    // queue is gone); retry: the queue stayed full for a while; stopping: a stop signal.
    enum class Outcome { done, retry, stopping };
    Outcome deliver(long type, const std::string& text) {
        if (type != plain_reply_type && !process_exists(type)) return Outcome::done;
        try {
            mq_.send(text, sysv::SendOptions{type, true, retry_interval});
            sweeper_.replied_to(type);
            return Outcome::done;
        } catch (const BusyError&) {
            return Outcome::retry;  // look at stopping_ and at the client again
        } catch (const InterruptedError&) {
            return Outcome::stopping;
        } catch (const Error&) {
            return Outcome::done;  // the queue was removed (the server is stopping)
        }
    }

    static constexpr std::chrono::milliseconds retry_interval{100};

    sysv::MessageQueue& mq_;
    ReplySweeper& sweeper_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::pair<long, std::string>> backlog_;
    std::map<long, std::size_t> per_client_;
    std::atomic<std::size_t> waiting_{0};
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
    mark_as_receiver(mq.id());
    if (options.verbose) log << "time server: listening on " << mq.describe() << std::endl;
    ReplySweeper sweeper(mq.id());
    ReplySender sender(mq, sweeper);
    SecondClock clock;
    sysv::ReceiveOptions receive_requests;
    receive_requests.type = -stop_request_type;  // types 1 and 2 only, never a reply
    receive_requests.spin = options.spin;
    receive_requests.truncate = true;  // no request, however long, fails the receive
    sysv::MessageBuffer request(request_buffer_size);
    std::size_t dropped = 0;
    auto drop = [&](const std::string& why) {
        ++dropped;
        if (options.verbose) log << "time server: dropped " << why << std::endl;
    };
    auto summary = [&] {
        if (dropped > 0) {
            log << "time server: dropped " << dropped << " malformed or over-long request(s) in all"
                << std::endl;
        }
    };
    auto stopped_by_signal = [&] {
        log << "time server: stopped by signal " << stop_signal() << "; removing " << mq.describe()
            << std::endl;
        summary();
        mq.remove();
        return 0;
    };
    for (;;) {
        try {
            mq.receive_into(request, receive_requests);
        } catch (const InterruptedError&) {
            return stopped_by_signal();
        }
        if (request.type() == stop_request_type) {
            if (options.verbose) log << "time server: stop request; removing the queue\n";
            summary();
            mq.remove();
            return 0;
        }
        long reply_type = plain_reply_type;
        if (request.size() >= request.capacity()) {
            drop("an over-long request (" + std::to_string(request.capacity()) +
                 " bytes or more; a request holds at most a reply type)");
            continue;
        }
        if (request.size() > 0) {
            auto parsed = python_int(request.text());
            long value = 0;
            if (parsed && parsed->size() < 12) value = std::stol(*parsed);
            if (value < plain_reply_type) {
                drop("a request with a bad reply type \"" + std::string(request.text()) + "\"");
                continue;
            }
            reply_type = value;
        }
        const std::string& now = clock.now();
        bool replied = false;
        try {
            replied = sender.reply(reply_type, now);
        } catch (const InterruptedError&) {
            return stopped_by_signal();
        }
        if (!replied) {
            drop("a request for reply type " + std::to_string(reply_type) + ": " +
                 std::to_string(waiting_replies_per_client) +
                 " replies already wait for it (a client that does not read them?)");
            continue;
        }
        if (options.verbose) {
            log << "time server: time request, replied \"" << now << "\" with type " << reply_type
                << std::endl;
        }
    }
}

namespace {

// The queue stayed full for the whole --timeout while the client had nothing to take.
struct QueueFullError : Error {
    using Error::Error;
};

// The largest reply: asctime's 24 characters.
constexpr std::size_t reply_size = 24;

class Client {
  public:
    Client(const TimeClientOptions& options, std::ostream& out)
        : options_(options), out_(out), mq_(options.key) {
        reply_type_ = options.plain ? plain_reply_type : static_cast<long>(::getpid());
        request_ = options.plain ? "" : std::to_string(reply_type_);
        // Replies already there are not answers to us: with our type, a dead process with
        // our PID left them; with type 3, a plain client that died before reading its
        // answer did (plain replies cannot be told apart: see the README).
        sysv::ReceiveOptions leftover;
        leftover.type = reply_type_;
        leftover.block = false;
        leftover.truncate = true;
        try {
            for (;;)
                mq_.receive(leftover);
        } catch (const BusyError&) {
        }
    }

    void ask_time() { ask_times(1); }

    // `count` requests with up to `window` of them in flight: every answer carries our
    // type, so they come back in order, and the process sleeps once per window instead
    // of once per request. The window is bounded by what the queue can hold, and the
    // client never waits to send while an answer to it may be waiting: it takes the
    // answer instead. So no window can fill the queue with requests and answers that
    // nobody takes.
    void ask_times(long count, long window = 1) {
        window = std::min(window, queue_window());
        sysv::ReceiveOptions wait;
        wait.type = reply_type_;
        wait.timeout = options_.timeout;
        wait.spin = options_.spin;
        long sent = 0;
        for (long received = 0; received < count; ++received) {
            while (sent < count && sent - received < window) {
                if (!send(time_request_type, sent > received, request_)) break;
                ++sent;
            }
            auto reply = mq_.receive(wait);
            out_ << reply.data << '\n';
        }
        out_.flush();
    }

    void stop_server() { send(stop_request_type, false, std::string_view{}); }

  private:
    // How many requests in flight the queue holds with their answers (at least 1).
    long queue_window() const {
        std::size_t capacity = mq_.max_size();
        return static_cast<long>(
            std::max<std::size_t>(1, capacity / (request_.size() + reply_size)));
    }

    // Sends a request. With `may_take_answers` (requests in flight), a full queue returns
    // false at once: the caller takes an answer, which frees room. Otherwise waits for
    // room, up to --timeout.
    bool send(long type, bool may_take_answers, std::string_view data) {
        try {
            mq_.send(data, sysv::SendOptions{type, false, std::nullopt});
            return true;
        } catch (const BusyError&) {
            if (may_take_answers) return false;
        }
        try {
            mq_.send(data, sysv::SendOptions{type, true, options_.timeout});
            return true;
        } catch (const BusyError& e) {
            throw QueueFullError(e.errno_value(), e.what());
        }
    }

    const TimeClientOptions& options_;
    std::ostream& out_;
    sysv::MessageQueue mq_;
    long reply_type_;
    std::string request_;
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
    } catch (const QueueFullError& e) {
        err << "time client: cannot send to the time server: " << e.what() << "; `ipckit mq stat "
            << sysv::format_key(options.key) << "` shows it\n";
        return 1;
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
