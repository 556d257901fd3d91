#include "partitioner.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "errors.h"
#include "hash.h"
#include "packed_record_pointer.h"

namespace tungsten {

namespace {

// The hash of one non-null value, from its Arrow column.
uint64_t hashValue(const ColumnView& column, uint64_t row) {
  const ColumnType& type = column.type;
  switch (type.physical) {
    case PhysicalType::kInt:
    case PhysicalType::kUInt: {
      uint64_t value = 0;
      if (type.physical == PhysicalType::kInt) {
        switch (type.width) {
          case 1: value = static_cast<uint64_t>(int64_t{loadUnaligned<int8_t>(column.values + row)}); break;
          case 2: value = static_cast<uint64_t>(int64_t{loadUnaligned<int16_t>(column.values + row * 2)}); break;
          case 4: value = static_cast<uint64_t>(int64_t{loadUnaligned<int32_t>(column.values + row * 4)}); break;
          default: value = loadUnaligned<uint64_t>(column.values + row * 8); break;
        }
      } else {
        std::memcpy(&value, column.values + row * type.width, type.width);
      }
      return fmix64(value);
    }
    case PhysicalType::kFloat: {
      // -0 joins +0 and every NaN is one NaN, as the aggregation groups them.
      double value = type.width == 4 ? double{loadUnaligned<float>(column.values + row * 4)}
                                     : loadUnaligned<double>(column.values + row * 8);
      if (value == 0.0) value = 0.0;
      if (std::isnan(value)) value = std::numeric_limits<double>::quiet_NaN();
      return fmix64(loadUnaligned<uint64_t>(reinterpret_cast<const uint8_t*>(&value)));
    }
    case PhysicalType::kBool: {
      const uint64_t bit = column.valuesBitOffset + row;
      return fmix64(((column.values[bit >> 3] >> (bit & 7)) & 1) + 1);
    }
    case PhysicalType::kVarBinary: {
      const uint64_t start = varOffset(column, row);
      return hashBytes64(column.values + start, varOffset(column, row + 1) - start);
    }
    case PhysicalType::kDecimal128:
    case PhysicalType::kFixedBinary: {
      const uint32_t width = type.physical == PhysicalType::kDecimal128 ? 16 : type.width;
      return hashBytes64(column.values + row * width, width);
    }
  }
  return 0;
}

}  // namespace

Partitioner::Partitioner(const RowLayout& layout, PartitionerSpec spec, const BatchView* bounds)
    : layout_(layout), spec_(std::move(spec)) {
  if (spec_.numPartitions == 0 || spec_.numPartitions - 1 > kMaximumPartitionId) {
    throw Error(ErrorCode::kInvalidArgument,
                "a shuffle has 1 to 16,777,216 partitions, not " + std::to_string(spec_.numPartitions));
  }
  for (uint32_t column : spec_.hashColumns) {
    if (column >= layout_.numColumns()) throw Error(ErrorCode::kInvalidArgument, "hash partitioning names a column that does not exist");
  }
  if (spec_.kind == PartitionerKind::kHash && spec_.hashColumns.empty()) {
    throw Error(ErrorCode::kInvalidArgument, "hash partitioning needs at least one key column");
  }
  if (spec_.kind != PartitionerKind::kRange) return;
  if (spec_.sortKeys.empty()) throw Error(ErrorCode::kInvalidArgument, "range partitioning needs at least one sort key");
  for (const SortKey& key : spec_.sortKeys) {
    if (key.column >= layout_.numColumns()) throw Error(ErrorCode::kInvalidArgument, "range partitioning names a column that does not exist");
  }
  const uint64_t expected = spec_.numPartitions - 1;
  if (bounds == nullptr || bounds->numRows != expected || bounds->columns.size() != layout_.numColumns()) {
    throw Error(ErrorCode::kInvalidArgument, "range partitioning into " + std::to_string(spec_.numPartitions) +
                                                 " partitions needs " + std::to_string(expected) +
                                                 " bound rows with the input's columns");
  }
  comparator_ = std::make_unique<KeyComparator>(layout_, spec_.sortKeys);
  std::vector<uint64_t> offsets;
  uint64_t total = 0;
  for (uint64_t row = 0; row < expected; ++row) {
    offsets.push_back(total);
    total += kRecordLengthBytes + layout_.payloadBytes(*bounds, row);
  }
  boundBytes_.resize(std::max<uint64_t>(total, 1));
  std::vector<uint8_t*> records;
  for (uint64_t offset : offsets) records.push_back(boundBytes_.data() + offset);
  if (expected > 0) layout_.writeRows(*bounds, 0, expected, records.data());
  for (uint8_t* record : records) {
    bounds_.push_back(record);
    boundPrefixes_.push_back(comparator_->prefixOfPayload(RowLayout::payload(record)));
  }
  // With one exact key and no null among the bounds' keys, a row's prefix alone places it.
  bool boundKeyNull = false;
  for (uint64_t row = 0; row < expected; ++row) boundKeyNull |= bounds->columns[comparator_->firstKeyColumn()].isNull(row);
  rangeByPrefix_ = comparator_->prefixIsWholeKey() && !boundKeyNull;
  for (size_t i = 1; i < bounds_.size(); ++i) {
    if (comparator_->compareRecords(boundPrefixes_[i - 1], bounds_[i - 1], boundPrefixes_[i], bounds_[i]) > 0) {
      throw Error(ErrorCode::kInvalidArgument, "range bounds must be sorted by the sort keys");
    }
  }
}

uint64_t Partitioner::hashRow(const BatchView& batch, uint64_t row) const {
  uint64_t h = 0x2545f4914f6cdd1dULL;
  for (uint32_t column : spec_.hashColumns) {
    const ColumnView& view = batch.columns[column];
    const uint64_t value = view.isNull(row) ? kNullKeySeed : hashValue(view, row);
    h = fmix64(h ^ value) * kNullKeySeed + column;
  }
  return fmix64(h);
}

uint32_t Partitioner::boundsBelow(uint64_t prefix) const {
  // Branch-free binary search (a conditional move per step): rows come in random order, and a
  // branch on each comparison would be mispredicted half the time.
  const uint64_t* base = boundPrefixes_.data();
  uint64_t n = boundPrefixes_.size();
  if (n == 0) return 0;
  while (n > 1) {
    const uint64_t half = n / 2;
    base = base[half] < prefix ? base + half : base;
    n -= half;
  }
  return static_cast<uint32_t>(base - boundPrefixes_.data()) + (*base < prefix ? 1 : 0);
}

uint32_t Partitioner::rangePartition(const uint8_t* record) const {
  const uint64_t prefix = comparator_->prefixOfPayload(RowLayout::payload(record));
  // The first bound not below the row (Spark's RangePartitioner.getPartition).
  size_t lo = 0;
  size_t hi = bounds_.size();
  while (lo < hi) {
    const size_t mid = (lo + hi) / 2;
    if (comparator_->compareRecords(boundPrefixes_[mid], bounds_[mid], prefix, record) < 0) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return static_cast<uint32_t>(lo);
}

void Partitioner::partitionsOf(const BatchView& batch, uint64_t firstRow, uint64_t count, uint8_t* const* records,
                               uint32_t* out) {
  const uint32_t n = spec_.numPartitions;
  switch (spec_.kind) {
    case PartitionerKind::kSingle:
      std::fill(out, out + count, 0u);
      break;
    case PartitionerKind::kRoundRobin:
      for (uint64_t i = 0; i < count; ++i) out[i] = static_cast<uint32_t>((spec_.roundRobinStart + rowsSeen_ + i) % n);
      break;
    case PartitionerKind::kHash:
      for (uint64_t i = 0; i < count; ++i) out[i] = static_cast<uint32_t>(hashRow(batch, firstRow + i) % n);
      break;
    case PartitionerKind::kRange:
      if (rangeByPrefix_) {
        // A null key sorts before or after every (non-null) bound; any other row goes after
        // the bounds whose prefix is below its own.
        const ColumnView& column = batch.columns[comparator_->firstKeyColumn()];
        const uint32_t nullPartition = spec_.sortKeys[0].nullsFirst ? 0 : static_cast<uint32_t>(bounds_.size());
        constexpr uint64_t kStep = 256;
        uint64_t prefixes[kStep];
        for (uint64_t from = 0; from < count; from += kStep) {
          const uint64_t step = std::min(kStep, count - from);
          comparator_->prefixes(column, firstRow + from, step, prefixes);
          for (uint64_t i = 0; i < step; ++i) out[from + i] = boundsBelow(prefixes[i]);
          if (column.validity != nullptr) {
            for (uint64_t i = 0; i < step; ++i) {
              if (column.isNull(firstRow + from + i)) out[from + i] = nullPartition;
            }
          }
        }
      } else {
        for (uint64_t i = 0; i < count; ++i) out[i] = rangePartition(records[i]);
      }
      break;
  }
  rowsSeen_ += count;
}

}  // namespace tungsten
