// The records of a sorter still in memory: a pointer array of (prefix, address) entries over
// rows in pages (Spark's UnsafeInMemorySorter, spark-semantics §3.2).
//
// The array is one granted MemoryBlock of `capacity` entries. Half of it holds entries, the
// other half is the radix sort's scratch (Spark's usable capacity = size / 2):
//
//   [0, nonNull)                 entries whose first key is not null, in insertion order
//   [usable - nulls, usable)     entries whose first key is null, filled from the end
//   [usable, 2 * usable)         scratch, reserved as Spark reserves it; the radix sort only
//                                touches its first 2 MiB (radix_sort.h)
//
// sort():
//   1. Radix-sort the non-null entries on the prefix, in place.
//   2. Unless the prefix is the whole key, sort each run of equal prefixes with the comparator.
//   3. Sort the null entries on the remaining keys (nothing to do with one key).
// The sorted order is then: nulls first or last, as the first key asks, around the sorted rest.
//
// The array's memory belongs to TypeScript: replacing it copies the entries into the new block,
// and the caller frees the old one.
#pragma once

#include <cstdint>
#include <memory>

#include "memory_block.h"
#include "radix_sort.h"
#include "sort_key.h"
#include "task_page_table.h"

namespace tungsten {

class InMemorySorter {
 public:
  InMemorySorter(const KeyComparator& comparator, const TaskPageTable& pages)
      : comparator_(comparator), pages_(pages) {}

  // Adopts a larger (or first) array, copying the entries and dropping the previous block
  // (TypeScript frees it). Throws if the new array cannot hold the current entries.
  void replaceArray(std::shared_ptr<MemoryBlock> array);
  // The array block grew in place (TaskPageTable::growPage): take the new capacity and move the
  // null entries to the end of the new usable half.
  void arrayGrown();
  // Adopts an array that already holds entries where this class keeps them: `nonNull` from the
  // front, `nulls` at the end of the usable half (the aggregation sorts its slot array in place).
  // There must be no array yet.
  void adoptFilled(std::shared_ptr<MemoryBlock> array, uint64_t nonNull, uint64_t nulls);
  // Forgets the entries and the array (after a spill); returns the array for the caller to free.
  std::shared_ptr<MemoryBlock> releaseArray();

  bool hasArray() const { return array_ != nullptr; }
  const MemoryBlock* array() const { return array_.get(); }
  uint64_t usableCapacity() const { return usable_; }
  uint64_t numRecords() const { return nonNull_ + nulls_; }
  bool hasSpaceForAnotherRecord() const { return numRecords() < usable_; }
  uint64_t arrayBytes() const { return array_ ? array_->size : 0; }

  void insert(uint64_t prefix, uint64_t address, bool firstKeyNull) {
    SortEntry* entries = reinterpret_cast<SortEntry*>(array_->data);
    if (firstKeyNull) {
      entries[usable_ - ++nulls_] = SortEntry{prefix, address};
    } else {
      entries[nonNull_++] = SortEntry{prefix, address};
    }
  }

  // The sorted entries, as up to three spans; valid until the next insert or array change.
  struct Sorted {
    const SortEntry* spans[2];
    uint64_t lengths[2];
  };
  Sorted sort();

 private:
  SortEntry* entries() const { return reinterpret_cast<SortEntry*>(array_->data); }
  void sortByComparator(SortEntry* begin, SortEntry* end, size_t fromKey) const;

  const KeyComparator& comparator_;
  const TaskPageTable& pages_;
  std::shared_ptr<MemoryBlock> array_;
  uint64_t usable_ = 0;
  uint64_t nonNull_ = 0;
  uint64_t nulls_ = 0;
};

}  // namespace tungsten
