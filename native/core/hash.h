// The hashes of keys: the aggregation map's (hash_aggregator.cc) and hash partitioning's
// (partitioner.cc). Both only need every input bit to reach the low bits, which pick a slot or
// a partition; neither is stored anywhere, so they may change between versions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "unaligned.h"

namespace tungsten {

// MurmurHash3's 64-bit finalizer: every input bit affects every output bit, so the low bits
// that pick a slot are as good as the high ones.
inline uint64_t fmix64(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return k;
}

inline constexpr uint64_t kNullKeySeed = 0x9e3779b97f4a7c15ULL;

inline uint32_t hashInteger(uint64_t value, bool isNull) {
  return static_cast<uint32_t>(fmix64(value ^ (isNull ? kNullKeySeed : 0)));
}

inline uint64_t hashBytes64(const uint8_t* bytes, size_t length, uint64_t seed = 0x243f6a8885a308d3ULL) {
  uint64_t h = seed ^ (length * kNullKeySeed);
  size_t i = 0;
  for (; i + 8 <= length; i += 8) h = fmix64(h ^ loadUnaligned<uint64_t>(bytes + i)) * kNullKeySeed;
  if (i < length) {
    uint64_t tail = 0;
    std::memcpy(&tail, bytes + i, length - i);
    h = fmix64(h ^ tail) * kNullKeySeed;
  }
  return fmix64(h);
}

inline uint32_t hashBytes(const uint8_t* bytes, size_t length) {
  return static_cast<uint32_t>(hashBytes64(bytes, length));
}

}  // namespace tungsten
