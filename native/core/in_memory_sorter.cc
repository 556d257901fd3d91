#include "in_memory_sorter.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "errors.h"

namespace tungsten {

void InMemorySorter::replaceArray(std::shared_ptr<MemoryBlock> array) {
  const uint64_t capacity = array->size / sizeof(SortEntry);
  const uint64_t usable = capacity / 2;
  if (usable < numRecords()) {
    throw Error(ErrorCode::kInvalidArgument,
                "Not enough memory to grow pointer array: " + std::to_string(usable) +
                    " entries cannot hold " + std::to_string(numRecords()));
  }
  SortEntry* to = reinterpret_cast<SortEntry*>(array->data);
  if (array_) {
    std::memcpy(to, entries(), nonNull_ * sizeof(SortEntry));
    std::memcpy(to + usable - nulls_, entries() + usable_ - nulls_, nulls_ * sizeof(SortEntry));
  }
  array_ = std::move(array);
  usable_ = usable;
}

void InMemorySorter::arrayGrown() {
  const uint64_t usable = array_->size / sizeof(SortEntry) / 2;
  if (usable < usable_) throw Error(ErrorCode::kInvalidArgument, "the pointer array shrank");
  SortEntry* all = entries();
  std::memmove(all + usable - nulls_, all + usable_ - nulls_, nulls_ * sizeof(SortEntry));
  usable_ = usable;
}

void InMemorySorter::adoptFilled(std::shared_ptr<MemoryBlock> array, uint64_t nonNull, uint64_t nulls) {
  const uint64_t usable = array->size / sizeof(SortEntry) / 2;
  if (array_ || nonNull + nulls > usable) throw Error(ErrorCode::kInvalidArgument, "adoptFilled: no room for the entries");
  array_ = std::move(array);
  usable_ = usable;
  nonNull_ = nonNull;
  nulls_ = nulls;
}

std::shared_ptr<MemoryBlock> InMemorySorter::releaseArray() {
  nonNull_ = 0;
  nulls_ = 0;
  usable_ = 0;
  return std::move(array_);
}

void InMemorySorter::sortByComparator(SortEntry* begin, SortEntry* end, size_t fromKey) const {
  std::sort(begin, end, [&](const SortEntry& a, const SortEntry& b) {
    const uint8_t* pa = RowLayout::payload(pages_.pointerTo(a.address));
    const uint8_t* pb = RowLayout::payload(pages_.pointerTo(b.address));
    return comparator_.compare(pa, pb, fromKey) < 0;
  });
}

InMemorySorter::Sorted InMemorySorter::sort() {
  Sorted result{{nullptr, nullptr}, {0, 0}};
  if (!array_) return result;
  SortEntry* all = entries();
  SortEntry* sorted = all;
  radixSortByPrefix(all, all + usable_, nonNull_);
  if (!comparator_.prefixIsWholeKey()) {
    // Ties on the prefix: order each run of equal prefixes by the full key.
    const size_t fromKey = comparator_.firstKeyExact() ? 1 : 0;
    for (uint64_t start = 0; start < nonNull_;) {
      uint64_t end = start + 1;
      while (end < nonNull_ && sorted[end].prefix == sorted[start].prefix) ++end;
      if (end - start > 1) sortByComparator(sorted + start, sorted + end, fromKey);
      start = end;
    }
  }
  SortEntry* nulls = all + usable_ - nulls_;
  if (comparator_.keys().size() > 1) sortByComparator(nulls, nulls + nulls_, 1);
  const bool nullsFirst = comparator_.hasKeys() && comparator_.keys()[0].nullsFirst;
  result.spans[nullsFirst ? 0 : 1] = nulls;
  result.lengths[nullsFirst ? 0 : 1] = nulls_;
  result.spans[nullsFirst ? 1 : 0] = sorted;
  result.lengths[nullsFirst ? 1 : 0] = nonNull_;
  return result;
}

}  // namespace tungsten
