// `ipckit mq send` and `ipckit mq recv` (ls, stat and rm: sysv_commands.cpp).
#include <iostream>
#include <iterator>
#include <limits>
#include <memory>

#include "command.hpp"
#include "ipckit/sysv/message_queue.hpp"
#include "sysv_format.hpp"

namespace ipckit::cli {
namespace {

// The queue named by KEY, or by its id with --id; never created here.
sysv::MessageQueue open_queue(const sysv_format::Target& target,
                              std::size_t max_message_size = sysv::default_max_message_size) {
    if (target.by_id) return sysv::MessageQueue::from_id(parse_id(target.text), max_message_size);
    return sysv::MessageQueue(parse_key_argument(target.text), 0, sysv::default_mode,
                              max_message_size);
}

}  // namespace

void add_mq_transfer_commands(CLI::App* mq) {
    struct SendArgs {
        sysv_format::Target target;
        long type = 1;
        std::string data = "-";
        bool create = false;
        double timeout = -1;
    };
    auto send_args = std::make_shared<SendArgs>();
    auto* send = mq->add_subcommand("send", "Send one message (DATA, or standard input with -)");
    sysv_format::add_target(send, send_args->target, "Queue");
    send->add_option("DATA", send_args->data, "The message; - reads standard input")
        ->capture_default_str();
    send->add_option("-t,--type", send_args->type, "Message type (> 0)")
        ->capture_default_str()
        ->transform(whole_number(1, std::numeric_limits<long>::max()));
    send->add_flag("--create", send_args->create,
                   "Create the queue if it does not exist (needs a KEY, not --id)");
    send->add_option("--timeout", send_args->timeout,
                     "Give up after this many seconds if the queue stays full")
        ->transform(timeout_validator());
    on_run(send, [send_args] {
        std::string data = send_args->data;
        if (data == "-") {
            data.assign(std::istreambuf_iterator<char>(std::cin), {});
        }
        if (send_args->create && send_args->target.by_id) {
            throw UsageError("--create makes a queue with a KEY; an --id names one that exists");
        }
        auto queue =
            send_args->create
                ? sysv::MessageQueue(parse_key_argument(send_args->target.text), IPC_CREAT,
                                     sysv::default_mode, sysv::message_queue_limits().msgmax)
                : open_queue(send_args->target, sysv::message_queue_limits().msgmax);
        sysv::SendOptions options;
        options.type = send_args->type;
        if (send_args->timeout >= 0) options.timeout = seconds_to_duration(send_args->timeout);
        try {
            queue.send(data, options);
        } catch (const BusyError& e) {
            // The library points to ipcs; this program has a friendlier look.
            throw BusyError(e.reason(), e.errno_value(),
                            std::string(e.what()) + "; `ipckit mq stat " +
                                (queue.key() == IPC_PRIVATE ? "--id " + std::to_string(queue.id())
                                                            : sysv::format_key(queue.key())) +
                                "` shows it");
        }
        return 0;
    });

    struct RecvArgs {
        sysv_format::Target target;
        long type = 0;
        double timeout = -1;
    };
    auto recv_args = std::make_shared<RecvArgs>();
    auto* recv = mq->add_subcommand("recv", "Receive one message and write its bytes to stdout");
    sysv_format::add_target(recv, recv_args->target, "Queue");
    recv->add_option("-t,--type", recv_args->type,
                     "0: first message; N>0: first of type N; N<0: lowest type <= |N|")
        ->capture_default_str()
        ->transform(
            whole_number(std::numeric_limits<long>::min(), std::numeric_limits<long>::max()));
    recv->add_option("--timeout", recv_args->timeout, "Give up after this many seconds")
        ->transform(timeout_validator());
    on_run(recv, [recv_args] {
        auto queue = open_queue(recv_args->target, sysv::message_queue_limits().msgmax);
        sysv::ReceiveOptions options;
        options.type = recv_args->type;
        if (recv_args->timeout >= 0) {
            options.timeout = seconds_to_duration(recv_args->timeout);
        }
        auto message = queue.receive(options);
        std::cout << message.data << std::flush;
        std::cerr << "(type " << message.type << ", " << message.data.size() << " bytes)\n";
        return 0;
    });
}

}  // namespace ipckit::cli
