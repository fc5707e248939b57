#include <unistd.h>

#include <iostream>

#include "demo.hpp"
#include "ipckit/manager.hpp"
#include "ipckit/process.hpp"
#include "ipckit/programs/fib.hpp"
#include "ipckit/range.hpp"
#include "ipckit/repr.hpp"

namespace ipckit::demo {

void manager() {
    Manager m;
    std::cout << "parent " << ::getpid() << " started a manager server (pid " << m.server_pid()
              << ") at " << m.address() << '\n';
    auto dct = m.dict();
    auto lst = m.list(range(10));
    Process child(
        [](DictProxy d, ListProxy l) {
            d[1] = "one";
            d["two"] = 2;
            l.reverse();
            std::cout << "child " << ::getpid() << " set d[1] = 'one', d['two'] = 2, reversed l\n"
                      << std::flush;
        },
        dct, lst);
    child.start();
    child.join();
    std::cout << "parent prints the dict: " << dct << '\n';
    std::cout << "parent prints the list: " << lst << '\n';

    // An unrelated process would do the same with the address and the authkey.
    auto other = Manager::connect(m.address(), m.authkey());
    auto scores = other.dict("scores");
    scores["alice"] = 3;
    std::cout << "a second connection wrote the named dict 'scores'; the first reads "
              << m.dict("scores") << '\n';
    std::cout << "server stats: " << Object(m.stats()) << '\n';
    m.shutdown();
    std::cout << "manager shut down and reaped\n";

    std::cout << "Fibonacci return through a manager list (ipckit fib 10 --via manager):\n";
    std::cout << ipckit::repr(programs::fibonacci_via_manager(10)) << '\n';
}

}  // namespace ipckit::demo
