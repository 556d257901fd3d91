#include "sort_key.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace tungsten {

namespace {

constexpr uint64_t kSignBit = uint64_t{1} << 63;

// GCC and Clang's 128-bit integer, for Decimal128 comparisons.
__extension__ typedef __int128 Int128;

template <typename T>
T load(const uint8_t* p) {
  T value;
  std::memcpy(&value, p, sizeof value);
  return value;
}

int64_t loadSigned(const uint8_t* p, uint32_t width) {
  switch (width) {
    case 1: return load<int8_t>(p);
    case 2: return load<int16_t>(p);
    case 4: return load<int32_t>(p);
    default: return load<int64_t>(p);
  }
}

uint64_t loadUnsigned(const uint8_t* p, uint32_t width) {
  switch (width) {
    case 1: return load<uint8_t>(p);
    case 2: return load<uint16_t>(p);
    case 4: return load<uint32_t>(p);
    default: return load<uint64_t>(p);
  }
}

Int128 loadDecimal(const uint8_t* p) { return load<Int128>(p); }

uint64_t bigEndianPrefix(const uint8_t* bytes, uint64_t length) {
  uint64_t prefix = 0;
  uint64_t n = std::min<uint64_t>(length, 8);
  for (uint64_t i = 0; i < n; ++i) prefix |= uint64_t{bytes[i]} << (56 - 8 * i);
  return prefix;
}

uint64_t normalizedFloatBits(const uint8_t* p, uint32_t width) {
  return width == 4 ? normalizeFloat(load<float>(p)) : normalizeDouble(load<double>(p));
}

int64_t clampToInt64(Int128 value) {
  if (value > std::numeric_limits<int64_t>::max()) return std::numeric_limits<int64_t>::max();
  if (value < std::numeric_limits<int64_t>::min()) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(value);
}

template <typename T>
int threeWay(T a, T b) {
  return (a > b) - (a < b);
}

}  // namespace

uint64_t normalizeSigned(int64_t value) { return static_cast<uint64_t>(value) ^ kSignBit; }

KeyComparator::KeyComparator(const RowLayout& layout, std::vector<SortKey> keys)
    : layout_(layout), keys_(std::move(keys)) {
  for (const SortKey& key : keys_) slots_.push_back(layout_.slotOffset(key.column));
  if (keys_.empty()) {
    // No ordering (Spark's sorter without a record comparator): every prefix is 0 and every
    // record compares equal, so runs and memory come out in insertion order.
    firstKeyExact_ = true;
    prefixIsWholeKey_ = true;
    firstKeyMayBeNull_ = false;
    return;
  }
  const ColumnType& first = layout_.columns()[keys_[0].column];
  switch (first.physical) {
    case PhysicalType::kVarBinary: firstKeyExact_ = false; break;
    case PhysicalType::kFixedBinary: firstKeyExact_ = first.width <= 8; break;
    case PhysicalType::kDecimal128: firstKeyExact_ = first.decimalFitsInt64; break;
    default: firstKeyExact_ = true; break;
  }
  prefixIsWholeKey_ = firstKeyExact_ && keys_.size() == 1;
}

uint64_t KeyComparator::prefix(const ColumnView& column, uint64_t row) const {
  const ColumnType& type = column.type;
  uint64_t prefix = 0;
  switch (type.physical) {
    case PhysicalType::kInt:
      prefix = normalizeSigned(loadSigned(column.values + row * type.width, type.width));
      break;
    case PhysicalType::kUInt:
      prefix = loadUnsigned(column.values + row * type.width, type.width);
      break;
    case PhysicalType::kFloat:
      prefix = normalizedFloatBits(column.values + row * type.width, type.width);
      break;
    case PhysicalType::kBool: {
      uint64_t bit = column.valuesBitOffset + row;
      prefix = (column.values[bit >> 3] >> (bit & 7)) & 1;
      break;
    }
    case PhysicalType::kDecimal128:
      prefix = normalizeSigned(clampToInt64(loadDecimal(column.values + row * 16)));
      break;
    case PhysicalType::kVarBinary: {
      uint64_t start = varOffset(column, row);
      prefix = bigEndianPrefix(column.values + start, varOffset(column, row + 1) - start);
      break;
    }
    case PhysicalType::kFixedBinary:
      prefix = bigEndianPrefix(column.values + row * type.width, type.width);
      break;
  }
  return keys_[0].descending ? ~prefix : prefix;
}

void KeyComparator::prefixes(const ColumnView& column, uint64_t firstRow, uint64_t count, uint64_t* out) const {
  const ColumnType& type = column.type;
  const uint64_t flip = keys_[0].descending ? ~uint64_t{0} : 0;
  if (type.physical == PhysicalType::kInt && (type.width == 8 || type.width == 4)) {
    const uint8_t* values = column.values + firstRow * type.width;
    if (type.width == 8) {
      for (uint64_t i = 0; i < count; ++i) out[i] = normalizeSigned(load<int64_t>(values + i * 8)) ^ flip;
    } else {
      for (uint64_t i = 0; i < count; ++i) out[i] = normalizeSigned(load<int32_t>(values + i * 4)) ^ flip;
    }
    return;
  }
  for (uint64_t i = 0; i < count; ++i) out[i] = prefix(column, firstRow + i);
}

int compareSlotValues(const ColumnType& type, const uint8_t* a, uint32_t slotA, const uint8_t* b,
                      uint32_t slotB) {
  switch (type.physical) {
    case PhysicalType::kInt: return threeWay(loadSigned(a + slotA, type.width), loadSigned(b + slotB, type.width));
    case PhysicalType::kUInt:
      return threeWay(loadUnsigned(a + slotA, type.width), loadUnsigned(b + slotB, type.width));
    case PhysicalType::kFloat:
      return threeWay(normalizedFloatBits(a + slotA, type.width), normalizedFloatBits(b + slotB, type.width));
    case PhysicalType::kBool: return threeWay(a[slotA], b[slotB]);
    case PhysicalType::kDecimal128: return threeWay(loadDecimal(a + slotA), loadDecimal(b + slotB));
    case PhysicalType::kFixedBinary: return threeWay(std::memcmp(a + slotA, b + slotB, type.width), 0);
    case PhysicalType::kVarBinary: {
      uint32_t aLength, bLength;
      const uint8_t* aBytes = RowLayout::varValue(a, slotA, &aLength);
      const uint8_t* bBytes = RowLayout::varValue(b, slotB, &bLength);
      int c = std::memcmp(aBytes, bBytes, std::min(aLength, bLength));
      return c != 0 ? threeWay(c, 0) : threeWay(aLength, bLength);
    }
  }
  return 0;
}

uint64_t KeyComparator::prefixOfPayload(const uint8_t* payload) const {
  const ColumnType& type = layout_.columns()[keys_[0].column];
  const uint8_t* slot = payload + slots_[0];
  ColumnView view;
  view.type = type;
  view.values = slot;
  if (type.physical == PhysicalType::kVarBinary) {
    uint32_t length;
    const uint8_t* bytes = RowLayout::varValue(payload, slots_[0], &length);
    const uint64_t prefix = bigEndianPrefix(bytes, length);
    return keys_[0].descending ? ~prefix : prefix;
  }
  return prefix(view, 0);  // a row's bool slot is one byte 0 or 1: bit 0 is the value
}

int KeyComparator::compareKey(size_t key, const uint8_t* a, const uint8_t* b) const {
  const SortKey& k = keys_[key];
  const bool aNull = RowLayout::isNull(a, k.column);
  const bool bNull = RowLayout::isNull(b, k.column);
  if (aNull || bNull) {
    if (aNull && bNull) return 0;
    return (aNull == k.nullsFirst) ? -1 : 1;
  }
  const int result = compareSlotValues(layout_.columns()[k.column], a, slots_[key], b, slots_[key]);
  return k.descending ? -result : result;
}

int KeyComparator::compare(const uint8_t* a, const uint8_t* b, size_t fromKey) const {
  for (size_t key = fromKey; key < keys_.size(); ++key) {
    int c = compareKey(key, a, b);
    if (c != 0) return c;
  }
  return 0;
}

int KeyComparator::compareRecordsWithNulls(uint64_t prefixA, const uint8_t* recordA, uint64_t prefixB,
                                           const uint8_t* recordB) const {
  const uint8_t* a = RowLayout::payload(recordA);
  const uint8_t* b = RowLayout::payload(recordB);
  const SortKey& first = keys_[0];
  const bool aNull = RowLayout::isNull(a, first.column);
  const bool bNull = RowLayout::isNull(b, first.column);
  if (aNull || bNull) {
    if (!(aNull && bNull)) return (aNull == first.nullsFirst) ? -1 : 1;
    return compare(a, b, 1);
  }
  if (prefixA != prefixB) return prefixA < prefixB ? -1 : 1;
  if (prefixIsWholeKey_) return 0;
  return compare(a, b, firstKeyExact_ ? 1 : 0);
}

}  // namespace tungsten
