// `ipckit mq`: a friendlier ipcs/ipcrm for message queues.
#include <chrono>
#include <ctime>
#include <iomanip>
#include <iostream>
#include <iterator>
#include <limits>
#include <memory>
#include <sstream>

#include "command.hpp"
#include "ipckit/sysv/message_queue.hpp"
#include "sysv_format.hpp"

namespace ipckit::cli {
namespace {

using sysv_format::octal;
using sysv_format::user_name;

void print_table(const std::vector<sysv::QueueInfo>& queues) {
    std::cout << std::left << std::setw(12) << "key" << std::setw(10) << "id" << std::setw(12)
              << "owner" << std::setw(7) << "mode" << std::setw(10) << "messages" << std::setw(10)
              << "bytes"
              << "last sender\n";
    for (const auto& q : queues) {
        std::cout << std::left << std::setw(12) << sysv::format_key(q.key) << std::setw(10) << q.id
                  << std::setw(12) << user_name(q.uid) << std::setw(7) << octal(q.mode)
                  << std::setw(10) << q.current_messages << std::setw(10) << q.current_bytes
                  << (q.last_send_pid ? std::to_string(q.last_send_pid) : "-") << '\n';
    }
}

void print_json(const std::vector<sysv::QueueInfo>& queues) {
    sysv_format::json_list(std::cout, queues, [](std::ostream& out, const sysv::QueueInfo& q) {
        sysv_format::json_fields(out, q);
        out << ", \"last_send_time\": " << q.last_send_time
            << ", \"last_receive_time\": " << q.last_receive_time
            << ", \"last_change_time\": " << q.last_change_time;
    });
    std::cout << '\n';
}

// The queue named by KEY, or by its id with --id; never created here.
sysv::MessageQueue open_queue(const sysv_format::Target& target,
                              std::size_t max_message_size = sysv::default_max_message_size) {
    if (target.by_id) return sysv::MessageQueue::from_id(parse_id(target.text), max_message_size);
    return sysv::MessageQueue(parse_key_argument(target.text), 0, sysv::default_mode,
                              max_message_size);
}

}  // namespace

void add_mq_commands(CLI::App& app) {
    auto* mq = app.add_subcommand("mq", "Inspect, use and remove System V message queues");
    mq->require_subcommand(1);

    auto* ls = mq->add_subcommand("ls", "List every message queue (as ipcs -q)");
    auto json = std::make_shared<bool>(false);
    ls->add_flag("--json", *json, "Print JSON instead of a table");
    on_run(ls, [json] {
        auto queues = sysv::list_message_queues();
        if (*json) {
            print_json(queues);
        } else {
            print_table(queues);
        }
        return 0;
    });

    auto stat_target = std::make_shared<sysv_format::Target>();
    auto* stat = mq->add_subcommand("stat", "Show every attribute of one queue");
    sysv_format::add_target(stat, *stat_target, "Queue");
    on_run(stat, [stat_target] {
        auto queue = open_queue(*stat_target);
        auto q = queue.info();
        std::cout << "key               " << sysv::format_key(q.key) << '\n'
                  << "id                " << q.id << '\n'
                  << "owner             " << user_name(q.uid) << " (uid " << q.uid << ", gid "
                  << q.gid << ")\n"
                  << "creator           " << user_name(q.cuid) << " (uid " << q.cuid << ", gid "
                  << q.cgid << ")\n"
                  << "mode              " << octal(q.mode) << '\n'
                  << "current_messages  " << q.current_messages << '\n'
                  << "current_bytes     " << q.current_bytes << '\n'
                  << "max_size          " << q.max_size << '\n'
                  << "last_send_pid     " << q.last_send_pid << '\n'
                  << "last_receive_pid  " << q.last_receive_pid << '\n'
                  << "last_send_time    " << sysv_format::time_text(q.last_send_time) << '\n'
                  << "last_receive_time " << sysv_format::time_text(q.last_receive_time) << '\n'
                  << "last_change_time  " << sysv_format::time_text(q.last_change_time) << '\n';
        return 0;
    });

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
        queue.send(data, options);
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

    auto rm_target = std::make_shared<sysv_format::Target>();
    auto* rm =
        mq->add_subcommand("rm", "Remove a queue (as ipcrm -Q KEY, or ipcrm -q ID with --id)");
    sysv_format::add_target(rm, *rm_target, "Queue");
    on_run(rm, [rm_target] {
        auto queue = open_queue(*rm_target);
        queue.remove();
        std::cout << "removed " << queue.describe() << '\n';
        return 0;
    });
}

}  // namespace ipckit::cli
