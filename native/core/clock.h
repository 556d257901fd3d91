// Time for the operators' metrics (sort time, spill write time).
#pragma once

#include <chrono>
#include <cstdint>

namespace tungsten {

// Nanoseconds since `start`.
inline uint64_t nanosSince(std::chrono::steady_clock::time_point start) {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count());
}

}  // namespace tungsten
