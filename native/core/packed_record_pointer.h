// A shuffle record's pointer packed with its partition id into 8 bytes: Spark's
// PackedRecordPointer (spark-semantics §3.5), bit for bit.
//
//   bit 63                 40 39          27 26                       0
//       +--------------------+--------------+--------------------------+
//       | partition id       | page number  | offset in page           |
//       | 24 bits            | 13 bits      | 27 bits                  |
//       +--------------------+--------------+--------------------------+
//
// - 24 bits of partition id: at most 16,777,216 reduce partitions (ids 0 .. 2^24 - 1).
// - 13 bits of page number: the page table's 8192 pages (page_address.h), unchanged.
// - 27 bits of offset: a shuffle page is at most 2^27 bytes = 128 MiB, which is why the shuffle
//   sorter refuses larger pages. An offset at or above 2^27 silently loses its high bits, as in
//   Spark; the sorter's page limit is what keeps that from happening.
// - The partition id is bytes 5..7 of the little-endian word, the only bytes the shuffle's radix
//   sort looks at.
#pragma once

#include <cstdint>

#include "page_address.h"

namespace tungsten {

inline constexpr int kPartitionIdBits = 24;
inline constexpr int kShuffleOffsetBits = 27;
inline constexpr uint32_t kMaximumPartitionId = (uint32_t{1} << kPartitionIdBits) - 1;
inline constexpr uint64_t kMaximumShufflePageSizeBytes = uint64_t{1} << kShuffleOffsetBits;
inline constexpr int kPartitionIdStartByte = 5;
inline constexpr int kPartitionIdEndByte = 7;

inline constexpr uint64_t kMaskLower27Bits = (uint64_t{1} << kShuffleOffsetBits) - 1;
inline constexpr uint64_t kMaskLower40Bits = (uint64_t{1} << 40) - 1;
inline constexpr uint64_t kMaskUpper13Bits = ~((uint64_t{1} << kOffsetBits) - 1);
inline constexpr uint64_t kMaskUpper24Bits = ~kMaskLower40Bits;

// Caller guarantees partitionId <= kMaximumPartitionId (Spark asserts it).
constexpr uint64_t packRecordPointer(uint64_t recordPointer, uint32_t partitionId) {
  // The page number moves from bits 63..51 down to 39..27.
  const uint64_t pageNumber = (recordPointer & kMaskUpper13Bits) >> 24;
  return (uint64_t{partitionId} << 40) | pageNumber | (recordPointer & kMaskLower27Bits);
}

constexpr uint32_t packedPartitionId(uint64_t packed) {
  return static_cast<uint32_t>((packed & kMaskUpper24Bits) >> 40);
}

constexpr uint64_t packedRecordPointer(uint64_t packed) {
  return ((packed << 24) & kMaskUpper13Bits) | (packed & kMaskLower27Bits);
}

static_assert(kMaskUpper13Bits == 0xFFF8000000000000ull);
static_assert(kMaskUpper24Bits == 0xFFFFFF0000000000ull);
// AC-PRP-01: page 1, offset 42, partition 360.
static_assert(packedPartitionId(packRecordPointer(encodePageNumberAndOffset(1, 42), 360)) == 360);
static_assert(packedRecordPointer(packRecordPointer(encodePageNumberAndOffset(1, 42), 360)) ==
              encodePageNumberAndOffset(1, 42));
// AC-PRP-02: the largest partition id and in-page offset round-trip; offset 2^27 decodes as 0.
static_assert(packedPartitionId(packRecordPointer(0, kMaximumPartitionId)) == kMaximumPartitionId);
static_assert(packedRecordPointer(packRecordPointer(encodePageNumberAndOffset(0, kMaskLower27Bits), 7)) ==
              kMaskLower27Bits);
static_assert(packedRecordPointer(packRecordPointer(encodePageNumberAndOffset(0, uint64_t{1} << 27), 0)) == 0);
static_assert(packedRecordPointer(packRecordPointer(encodePageNumberAndOffset(8191, 5), 0)) ==
              encodePageNumberAndOffset(8191, 5));

}  // namespace tungsten
