// Which reduce partition a row goes to, computed natively for every row a map task writes.
//
//   kSingle      every row to partition 0 (a shuffle into one partition)
//   kRoundRobin  rows in turn, starting at `roundRobinStart` (Spark's repartition(n) without
//                keys, which starts each map task at a position drawn from its index)
//   kHash        hash of the key columns modulo n (groupBy, repartition(n, keys)); equal keys
//                as the aggregation groups them go to one partition: -0 and +0, and every NaN,
//                of a float key hash alike, as they group alike
//   kRange       the number of range bounds that sort before the row (sortBy): bounds are rows
//                with the input's schema, sorted by the sort keys and drawn by the driver from
//                a sample, so that partition i's rows all sort before partition i + 1's
//
// Range bounds are kept in this object in the row format: (n - 1) rows, a bounded allocation
// of the size the driver's sample chose, like the sorter's output staging; it is not granted.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "column_types.h"
#include "row_format.h"
#include "sort_key.h"

namespace tungsten {

enum class PartitionerKind : uint32_t { kSingle = 0, kRoundRobin = 1, kHash = 2, kRange = 3 };

struct PartitionerSpec {
  PartitionerKind kind = PartitionerKind::kSingle;
  uint32_t numPartitions = 1;
  std::vector<uint32_t> hashColumns;  // kHash
  std::vector<SortKey> sortKeys;      // kRange
  uint64_t roundRobinStart = 0;       // kRoundRobin
};

class Partitioner {
 public:
  // `bounds` (kRange only) holds numPartitions - 1 rows of `layout`'s columns, sorted.
  Partitioner(const RowLayout& layout, PartitionerSpec spec, const BatchView* bounds);

  uint32_t numPartitions() const { return spec_.numPartitions; }
  // Whether partitionsOf reads the rows' records: range bounds compare rows in the row format,
  // unless one key of an exact type (whose prefix is the whole key) and no null among the
  // bounds let a row's prefix place it. Other kinds read the batch only, and take no records.
  bool needsRecords() const { return spec_.kind == PartitionerKind::kRange && !rangeByPrefix_; }
  // Partition ids of rows [firstRow, firstRow + count) of `batch`, whose records (written by
  // RowLayout::writeRows) are `records`.
  void partitionsOf(const BatchView& batch, uint64_t firstRow, uint64_t count, uint8_t* const* records,
                    uint32_t* out);

 private:
  uint64_t hashRow(const BatchView& batch, uint64_t row) const;
  uint32_t rangePartition(const uint8_t* record) const;
  // The number of bound prefixes below `prefix` (they are sorted).
  uint32_t boundsBelow(uint64_t prefix) const;

  const RowLayout& layout_;
  PartitionerSpec spec_;
  std::unique_ptr<KeyComparator> comparator_;
  std::vector<uint8_t> boundBytes_;
  std::vector<const uint8_t*> bounds_;
  std::vector<uint64_t> boundPrefixes_;
  bool rangeByPrefix_ = false;
  uint64_t rowsSeen_ = 0;
};

}  // namespace tungsten
