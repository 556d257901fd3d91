// XXH32 (xxHash, 32-bit), which the LZ4 frame format uses for its header checksum and its
// optional block and content checksums. One-shot only: frames here are hashed whole.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "unaligned.h"

namespace tungsten {

namespace xxh32_detail {
inline constexpr uint32_t kPrime1 = 0x9E3779B1u;
inline constexpr uint32_t kPrime2 = 0x85EBCA77u;
inline constexpr uint32_t kPrime3 = 0xC2B2AE3Du;
inline constexpr uint32_t kPrime4 = 0x27D4EB2Fu;
inline constexpr uint32_t kPrime5 = 0x165667B1u;

inline uint32_t rotl(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }
// Little-endian hosts only (the build targets x86-64 and arm64).
inline uint32_t read32(const uint8_t* p) { return loadUnaligned<uint32_t>(p); }
inline uint32_t round(uint32_t acc, uint32_t input) { return rotl(acc + input * kPrime2, 13) * kPrime1; }
}  // namespace xxh32_detail

inline uint32_t xxh32(const uint8_t* p, size_t length, uint32_t seed = 0) {
  using namespace xxh32_detail;
  const uint8_t* const end = p + length;
  uint32_t h;
  if (length >= 16) {
    uint32_t v1 = seed + kPrime1 + kPrime2, v2 = seed + kPrime2, v3 = seed, v4 = seed - kPrime1;
    const uint8_t* const limit = end - 16;
    do {
      v1 = round(v1, read32(p));
      v2 = round(v2, read32(p + 4));
      v3 = round(v3, read32(p + 8));
      v4 = round(v4, read32(p + 12));
      p += 16;
    } while (p <= limit);
    h = rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18);
  } else {
    h = seed + kPrime5;
  }
  h += static_cast<uint32_t>(length);
  for (; p + 4 <= end; p += 4) h = rotl(h + read32(p) * kPrime3, 17) * kPrime4;
  for (; p < end; ++p) h = rotl(h + *p * kPrime5, 11) * kPrime1;
  h ^= h >> 15;
  h *= kPrime2;
  h ^= h >> 13;
  h *= kPrime3;
  h ^= h >> 16;
  return h;
}

}  // namespace tungsten
