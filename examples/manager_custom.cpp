// A custom type registered with a manager (Python's BaseManager.register) and shared by a
// parent and four worker processes; prints 400.
//
//   class Counter:
//       def __init__(self): self.n = 0
//       def increment(self, by): self.n += by
//       def value(self): return self.n
//   class MyManager(BaseManager): pass
//   MyManager.register('Counter', Counter)
//   def work(c):
//       for _ in range(100): c.increment(1)
//   with MyManager() as m:
//       c = m.Counter()
//       ps = [Process(target=work, args=(c,)) for _ in range(4)]
//       for p in ps: p.start()
//       for p in ps: p.join()
//       print(c.value())
#include <ipckit/manager.hpp>
#include <ipckit/process.hpp>

#include <cstdint>
#include <iostream>
#include <vector>

struct Counter {
    std::int64_t n = 0;
    void increment(std::int64_t by) { n += by; }
    std::int64_t value() const { return n; }
};

void work(ipckit::ObjectProxy c) {
    for (int i = 0; i < 100; ++i)
        c.call("increment", 1);
}

int main() {
    ipckit::Registry registry;
    registry.add<Counter>("Counter",
                          {{"increment", &Counter::increment}, {"value", &Counter::value}});
    ipckit::Manager m(registry);
    auto c = m.object("Counter");
    std::vector<ipckit::Process> ps;
    for (int i = 0; i < 4; ++i)
        ps.emplace_back(work, c);
    for (auto& p : ps)
        p.start();
    for (auto& p : ps)
        p.join();
    std::cout << c.call("value") << '\n';
}
