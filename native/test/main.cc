#include <cstring>

#include "harness.h"
#include "page_allocator.h"

// Usage: tungsten_core_tests [substring]   runs the cases whose name contains substring.
int main(int argc, char** argv) {
  const char* filter = argc > 1 ? argv[1] : "";
  int passed = 0;
  int failed = 0;
  for (const harness::Case& c : harness::registry()) {
    if (std::strstr(c.name, filter) == nullptr) continue;
    harness::currentFailures() = 0;
    try {
      c.body();
    } catch (const std::exception& e) {
      harness::fail(__FILE__, __LINE__, std::string("uncaught exception: ") + e.what());
    }
    if (harness::currentFailures() == 0) {
      ++passed;
    } else {
      ++failed;
      std::cerr << "FAIL " << c.name << "\n";
    }
  }
  // Every test returns what it took: no native block may be live at the end.
  const tungsten::AllocatorStats stats = tungsten::PageAllocator::instance().stats();
  if (stats.liveBlocks != 0 || stats.liveBytes != 0) {
    ++failed;
    std::cerr << "FAIL " << stats.liveBlocks << " native blocks (" << stats.liveBytes << " bytes) still live\n";
  }
  std::cout << passed << " passed, " << failed << " failed\n";
  return failed == 0 ? 0 : 1;
}
