#include <unistd.h>

#include <iostream>

#include "demo.hpp"
#include "ipckit/process.hpp"
#include "ipckit/programs/fib.hpp"
#include "ipckit/repr.hpp"
#include "ipckit/shared.hpp"

namespace ipckit::demo {

void shared_state() {
    Value<double> number(0.0);
    Array<int> vector(range(10));
    std::cout << "parent " << ::getpid() << " made number = " << number
              << " and vector = " << vector << " in shared memory\n";
    Process child([number, vector] {
        number.value() = 3.1415927;
        for (std::size_t i = 0; i < vector.size(); ++i)
            vector[i] = -vector[i];
        std::cout << "child " << ::getpid() << " set number and negated every element\n";
    });
    child.start();
    child.join();
    std::cout << "parent after join: number = " << number << ", vector = " << vector << '\n';

    std::cout << "Fibonacci return: a child computes 10 numbers into a shared Array; the "
                 "parent prints them after join:\n";
    std::cout << repr(programs::fibonacci_via_shared(10)) << '\n';
}

}  // namespace ipckit::demo
