// Loads and stores of values at any address: rows and buffers are packed without alignment
// (row_format.h), and memcpy is how C++ says so without undefined behaviour; compilers turn it
// into one move on x86-64 and AArch64.
#pragma once

#include <cstdint>
#include <cstring>

namespace tungsten {

template <typename T>
inline T loadUnaligned(const uint8_t* p) {
  T value;
  std::memcpy(&value, p, sizeof value);
  return value;
}

template <typename T>
inline void storeUnaligned(uint8_t* p, T value) {
  std::memcpy(p, &value, sizeof value);
}

}  // namespace tungsten
