// LSD radix sort of (prefix, address) entries on the prefix (Spark's RadixSort, key-prefix
// variant, spark-semantics §3.3).
//
//   1. One pass counts all eight byte positions at once (8 × 256 counters).
//   2. A byte position where every entry has the same byte is skipped: its counter holds n.
//   3. Each remaining position, least significant first, scatters the entries from one buffer
//      to the other in bucket order; LSD passes are stable, so the result is sorted.
//   4. The sorted entries end in whichever buffer the last pass wrote: nothing is copied back.
//
// Unsigned ascending order only: prefixes are already normalized (sort_key.h), descending keys
// complemented. Needs scratch equal to the input (Spark's 2n longs for the key-prefix array).
#pragma once

#include <cstddef>
#include <cstdint>

namespace tungsten {

struct SortEntry {
  uint64_t prefix;
  uint64_t address;
};
static_assert(sizeof(SortEntry) == 16, "the pointer array holds 16-byte (prefix, address) pairs");

// Sorts data[0, n) by prefix; scratch must hold n entries. Returns data or scratch, whichever
// holds the sorted entries.
SortEntry* radixSortByPrefix(SortEntry* data, SortEntry* scratch, size_t n);

}  // namespace tungsten
