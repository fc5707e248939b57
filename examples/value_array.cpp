// The handout's first listing: a child process writes a shared Value and Array, the
// parent prints them after join. Prints exactly what the Python listing prints:
//   3.1415927
//   [0, -1, -2, -3, -4, -5, -6, -7, -8, -9]
#include <ipckit/process.hpp>
#include <ipckit/shared.hpp>

#include <iostream>

using ipckit::Array, ipckit::Process, ipckit::Value;

void f(Value<double> n, Array<int> a) {
    n.value() = 3.1415927;
    for (std::size_t i = 0; i < a.size(); ++i)
        a[i] = -a[i];
}

int main() {
    Value<double> number(0.0);
    Array<int> vector(ipckit::range(10));

    Process p(f, number, vector);
    p.start();
    p.join();

    std::cout << number.value() << '\n';  // print(number.value)
    std::cout << vector << '\n';          // print(vector[:])
}
