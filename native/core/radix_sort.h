// Radix sort of (prefix, address) entries on the prefix (Spark's RadixSort, key-prefix variant,
// spark-semantics §3.3, made cache- and memory-aware).
//
// Spark sorts LSD, one pass per byte over the whole array, scattering into a scratch array as
// large as the data. With tens of millions of 16-byte entries every pass streams the array
// through DRAM, and the scratch half is memory the process touches only to sort. This sort:
//   1. While a range is larger than kLsdEntries, partitions it in place on its most significant
//      byte that varies (one histogram pass, then swaps straight into the buckets, ska_sort's
//      American flag variant), and goes on with each of the 256 buckets.
//   2. Sorts a range of at most kLsdEntries entries LSD on the remaining bytes, all histograms
//      in one pass, skipping byte positions that are the same in the whole range (Spark's
//      skip), ping-ponging with the first kLsdEntries entries of the scratch area, and copying
//      back while the range is still in cache.
// So only kLsdEntries entries (2 MiB) of scratch are ever touched, however large the sort: the
// rest of the reserved scratch stays untouched and never becomes resident memory.
//
// (Scattering step 1 out of place into the reserved scratch was measured too: faster on warm
// memory, but a spilling sort frees its pointer array after every run, so the scratch is fresh
// memory each time, and faulting it in cost more than it saved in S2, with more resident memory.)
//
// Ascending by unsigned prefix. Not stable (neither is Spark's sort); equal prefixes are
// ordered afterwards by the comparator where the prefix is not the whole key.
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

// Sorts data[0, n) in place by prefix. `scratch` must have room for min(n, kLsdEntries) entries
// and is the only other memory written.
void radixSortByPrefix(SortEntry* data, SortEntry* scratch, size_t n);

}  // namespace tungsten
