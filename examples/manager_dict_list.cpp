// The handout's manager listing: a child changes a shared dict and list, the parent prints
// them after join.
//
//   from multiprocessing import Process, Manager
//   def f(d, l):
//       d[1] = 'one'
//       d['two'] = 2
//       l.reverse()
//   with Manager() as manager:
//       dct = manager.dict()
//       lst = manager.list(range(10))
//       p = Process(target=f, args=(dct, lst)); p.start(); p.join()
//       print(dct); print(lst)
#include <ipckit/manager.hpp>
#include <ipckit/process.hpp>
#include <ipckit/range.hpp>

#include <iostream>

void f(ipckit::DictProxy d, ipckit::ListProxy l) {
    d[1] = "one";
    d["two"] = 2;
    l.reverse();
}

int main() {
    ipckit::Manager manager;  // the server stops when `manager` leaves scope
    auto dct = manager.dict();
    auto lst = manager.list(ipckit::range(10));

    ipckit::Process p(f, dct, lst);
    p.start();
    p.join();

    std::cout << dct << '\n';
    std::cout << lst << '\n';
}
