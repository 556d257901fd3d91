// Sort keys: the 8-byte normalized prefix and the full-key comparator.
//
// The prefix of a row is its first key's value mapped to a u64 whose unsigned order is the
// key's order, so that radix sort and merging compare one integer. Per physical type:
//   kInt      value sign-extended to 64 bits, sign bit flipped           (exact)
//   kUInt     value zero-extended                                         (exact)
//   kFloat    IEEE bits; negative: all bits flipped, else sign bit set;   (exact)
//             every NaN first made the one canonical quiet NaN, so
//             -inf < ... < -0 < +0 < ... < +inf < NaN (total order)
//   kBool     0 or 1                                                      (exact)
//   kDecimal128  the value clamped to int64, then as kInt                 (exact when the
//             column's precision is <= 18, i.e. decimalFitsInt64)
//   kVarBinary, kFixedBinary  the first 8 bytes big-endian, zero-padded   (exact only for
//             fixed widths <= 8)
// Descending keys store the bitwise complement. "Exact" means equal prefixes imply equal
// keys; when the first key is exact and it is the only key, no comparator ever runs.
//
// The prefix says nothing about nulls: rows whose first key is null are kept apart by the
// sorter and placed first or last as that key asks, whether ascending or descending (as
// Spark does). The comparator orders nulls the same way for every key.
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "column_types.h"
#include "row_format.h"

namespace tungsten {

struct SortKey {
  uint32_t column;
  bool descending;
  bool nullsFirst;
};

class KeyComparator {
 public:
  KeyComparator(const RowLayout& layout, std::vector<SortKey> keys);

  const std::vector<SortKey>& keys() const { return keys_; }
  // True when the prefix alone decides the order of non-null first keys: a single key of an
  // exact type.
  bool prefixIsWholeKey() const { return prefixIsWholeKey_; }
  uint32_t firstKeyColumn() const { return keys_[0].column; }
  // True when equal prefixes imply equal first keys.
  bool firstKeyExact() const { return firstKeyExact_; }

  // The prefix of row `row` of the first key's input column; meaningless for a null.
  uint64_t prefix(const ColumnView& column, uint64_t row) const;

  // prefix() of rows [firstRow, firstRow + count), into out: the same values, with the type
  // dispatch out of the loop for the common integer keys (inserts and range partitioning call
  // it for every row).
  void prefixes(const ColumnView& column, uint64_t firstRow, uint64_t count, uint64_t* out) const;

  // The prefix of a row's first key, from the row's payload; meaningless for a null.
  uint64_t prefixOfPayload(const uint8_t* payload) const;

  // Compares two payloads on keys [fromKey, end): < 0, 0, > 0.
  int compare(const uint8_t* a, const uint8_t* b, size_t fromKey = 0) const;

  // The total order of records used everywhere (merge, ties): first-key nulls placed as
  // asked, then the prefix, then the full comparator where the prefix is not exact. Inline:
  // the merge calls it once per level per record, and with no null first key and an exact
  // prefix it is one integer comparison.
  int compareRecords(uint64_t prefixA, const uint8_t* recordA, uint64_t prefixB, const uint8_t* recordB) const {
    if (!firstKeyMayBeNull_) {
      if (prefixA != prefixB) return prefixA < prefixB ? -1 : 1;
      if (prefixIsWholeKey_) return 0;
      return compare(RowLayout::payload(recordA), RowLayout::payload(recordB), firstKeyExact_ ? 1 : 0);
    }
    return compareRecordsWithNulls(prefixA, recordA, prefixB, recordB);
  }

  // True when the prefix alone orders any two records: an exact single key never null.
  bool prefixDecides() const { return prefixIsWholeKey_ && !firstKeyMayBeNull_; }

  // Whether any record compared may have a null first key; the sorter clears it when it has
  // seen none, which lets compareRecords skip the null bitmaps. True until said otherwise.
  void setFirstKeyMayBeNull(bool mayBeNull) { firstKeyMayBeNull_ = mayBeNull && !keys_.empty(); }
  bool hasKeys() const { return !keys_.empty(); }

 private:
  int compareRecordsWithNulls(uint64_t prefixA, const uint8_t* recordA, uint64_t prefixB,
                              const uint8_t* recordB) const;
  int compareKey(size_t key, const uint8_t* a, const uint8_t* b) const;

  const RowLayout& layout_;
  std::vector<SortKey> keys_;
  std::vector<uint32_t> slots_;
  bool prefixIsWholeKey_;
  bool firstKeyExact_;
  bool firstKeyMayBeNull_ = true;
};

// Three-way comparison of two non-null values of `type`, at slot offsets of two row payloads,
// in the sort's ascending order (floats in total order, bytes unsigned).
int compareSlotValues(const ColumnType& type, const uint8_t* a, uint32_t slotA, const uint8_t* b, uint32_t slotB);

// Prefix building blocks, exposed for the tests. The float ones are inline: min and max
// aggregates call them for every value.
uint64_t normalizeSigned(int64_t value);

inline uint64_t normalizeDouble(double value) {
  if (value != value) value = std::numeric_limits<double>::quiet_NaN();
  uint64_t bits;
  std::memcpy(&bits, &value, 8);
  // Negative: all bits flipped; otherwise the sign bit set. Without a branch: the sign of
  // random data is a coin toss, and min/max ran at half speed on the mispredictions.
  const uint64_t signMask = static_cast<uint64_t>(static_cast<int64_t>(bits) >> 63);
  return bits ^ (signMask | (uint64_t{1} << 63));
}

inline uint64_t normalizeFloat(float value) {
  if (value != value) value = std::numeric_limits<float>::quiet_NaN();
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  const uint32_t signMask = static_cast<uint32_t>(static_cast<int32_t>(bits) >> 31);
  const uint32_t normalized = bits ^ (signMask | 0x80000000u);
  return uint64_t{normalized} << 32;
}

}  // namespace tungsten
