// Radix sort of (prefix, address) entries on the prefix (Spark's RadixSort, key-prefix variant,
// spark-semantics §3.3, made cache-aware).
//
// Spark sorts LSD, one pass per byte over the whole array. With tens of millions of 16-byte
// entries every pass streams the array through DRAM and scatters into 256 places at random,
// so each pass costs a full round trip to memory. This sort instead:
//   1. While a range is larger than a cache-resident size (kLsdEntries), splits it MSD-first on
//      its most significant byte that varies: one histogram pass, one scatter pass, then each of
//      the 256 buckets on its own.
//   2. Sorts a cache-resident range LSD on the remaining bytes, all histograms in one pass, and
//      skips every byte position that is the same in the whole range (Spark's skip).
//   3. Ranges alternate between the input and the scratch buffer; a range that finishes in the
//      wrong one is copied back while it is still in cache.
// The result is stable (LSD passes are stable, MSD buckets keep order), ascending by unsigned
// prefix. Scratch must hold n entries, as Spark's 2n longs.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tungsten {

struct SortEntry {
  uint64_t prefix;
  uint64_t address;
};
static_assert(sizeof(SortEntry) == 16, "the pointer array holds 16-byte (prefix, address) pairs");

// Ranges up to this many entries are sorted LSD: 128 Ki entries are 2 MiB, a range and its
// scratch 4 MiB, in L2 and the nearby L3 (measured best of 2^15..2^18 with
// tungsten_sort_kernel_bench on 10 M and 20 M pairs). Below kInsertionEntries, insertion sort:
// a 256-bucket histogram costs more than it saves there.
inline constexpr size_t kLsdEntries = size_t{1} << 17;
inline constexpr size_t kInsertionEntries = 32;

// Sorts data[0, n) by prefix; scratch must hold n entries. Returns data or scratch, whichever
// holds the sorted entries.
SortEntry* radixSortByPrefix(SortEntry* data, SortEntry* scratch, size_t n);

}  // namespace tungsten
