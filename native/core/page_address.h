// Record addresses: Spark's TaskMemoryManager encoding, bit for bit.
//
//   bit 63            51 50                                                  0
//       +---------------+-----------------------------------------------------+
//       | page number   | offset                                              |
//       | 13 bits       | 51 bits                                             |
//       +---------------+-----------------------------------------------------+
//
// - 13 bits of page number: at most 8192 pages live per task attempt.
// - 51 bits of offset: pages are native (off-heap) memory, so the offset stored is relative to
//   the page's base address (encodeAbsolute subtracts it, offsetInPage adds it back). Any offset
//   inside a page fits, because a page is at most kMaximumPageSizeBytes (< 2^35) long.
// - kMaximumPageSizeBytes is Spark's, (2^31 - 1) * 8, the largest long[] a JVM can allocate.
//   It is kept so that a Spark configuration and its tests carry over unchanged; together with
//   8192 pages it bounds one task at about 140 TB, far beyond anything a process here holds.
//
// Decoding is an unsigned shift: a page number never comes back negative.
#pragma once

#include <cstdint>

namespace tungsten {

inline constexpr int kPageNumberBits = 13;
inline constexpr int kOffsetBits = 64 - kPageNumberBits;
inline constexpr int kPageTableSize = 1 << kPageNumberBits;
inline constexpr uint64_t kOffsetMask = (uint64_t{1} << kOffsetBits) - 1;
inline constexpr uint64_t kMaximumPageSizeBytes = ((uint64_t{1} << 31) - 1) * 8;

static_assert(kOffsetBits == 51, "Spark's TaskMemoryManager uses 51 offset bits");
static_assert(kPageTableSize == 8192, "Spark's TaskMemoryManager has 8192 page slots");
static_assert(kOffsetMask == 0x7FFFFFFFFFFFFull, "OFFSET_MASK of TaskMemoryManager");
static_assert(kMaximumPageSizeBytes == 17179869176ull, "MAXIMUM_PAGE_SIZE_BYTES");
static_assert(kMaximumPageSizeBytes <= kOffsetMask, "every in-page offset must fit in 51 bits");

// Caller guarantees 0 <= pageNumber < kPageTableSize; offset bits above 51 are dropped, as
// Spark does (`offset & MASK_LONG_LOWER_51_BITS`).
constexpr uint64_t encodePageNumberAndOffset(uint32_t pageNumber, uint64_t offset) {
  return (uint64_t{pageNumber} << kOffsetBits) | (offset & kOffsetMask);
}

constexpr uint32_t decodePageNumber(uint64_t address) {
  return static_cast<uint32_t>(address >> kOffsetBits);
}

constexpr uint64_t decodeOffset(uint64_t address) { return address & kOffsetMask; }

static_assert(encodePageNumberAndOffset(1, 42) == 2251799813685290ull, "AC-TMM-02 static encode");
static_assert(decodePageNumber(encodePageNumberAndOffset(8191, kOffsetMask)) == 8191);
static_assert(decodeOffset(encodePageNumberAndOffset(8191, kOffsetMask)) == kOffsetMask);

}  // namespace tungsten
