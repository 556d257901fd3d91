// Unit tests of the shuffle's map side: PackedRecordPointer (AC-PRP-01/02), the partition radix
// sort, the partitioners, and the shuffle sorter end to end against a reference grouping
// (seeds in the names).
#include <algorithm>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "harness.h"
#include "page_allocator.h"
#include "packed_record_pointer.h"
#include "shuffle_sorter.h"
#include "test_tables.h"

using namespace tungsten;
using namespace tungsten::test;

namespace {

using Row = std::pair<std::optional<int64_t>, std::optional<std::string>>;

std::vector<Row> rowsOf(const OutputBatch& batch) {
  std::vector<Row> rows;
  const OutputColumn& key = batch.columns[0];
  const OutputColumn& payload = batch.columns[1];
  const auto* offsets = reinterpret_cast<const int32_t*>(payload.offsets.data.get());
  for (uint64_t i = 0; i < batch.numRows; ++i) {
    Row row;
    if (key.nullCount == 0 || ((key.validity.data.get()[i / 8] >> (i % 8)) & 1)) {
      int64_t v;
      std::memcpy(&v, key.values.data.get() + i * 8, 8);
      row.first = v;
    }
    if (payload.nullCount == 0 || ((payload.validity.data.get()[i / 8] >> (i % 8)) & 1)) {
      row.second = std::string(reinterpret_cast<const char*>(payload.values.data.get()) + offsets[i],
                               static_cast<size_t>(offsets[i + 1] - offsets[i]));
    }
    rows.push_back(row);
  }
  return rows;
}

// Inserts the whole table, granting small pages and arrays as asked; returns rows per partition
// in output order, checking that partitions come in increasing order.
std::map<uint32_t, std::vector<Row>> shuffleAll(const Table& t, PartitionerSpec spec, const BatchView* bounds,
                                                uint64_t pageBytes) {
  auto table = std::make_shared<TaskPageTable>(PageAllocator::instance());
  std::map<uint32_t, std::vector<Row>> out;
  {
    ShuffleSorter sorter({{PhysicalType::kInt, 8}, {PhysicalType::kVarBinary, 4}}, std::move(spec), bounds, table);
    std::vector<std::shared_ptr<MemoryBlock>> held;
    const size_t batchRows = 777;
    for (size_t from = 0; from < t.keys.size(); from += batchRows) {
      OwnedBatch batch = makeBatch(t, from, std::min(t.keys.size(), from + batchRows));
      uint64_t row = 0;
      while (row < batch.view.numRows) {
        auto r = sorter.insert(batch.view, row);
        row = r.nextRow;
        if (r.needArray) {
          auto array = table->allocatePage(std::max<uint64_t>(256, sorter.pointerArrayBytes() * 2));
          sorter.replacePointerArray(array);
          held.push_back(array);
        } else if (r.needRecordBytes > 0) {
          auto page = table->allocatePage(std::max(pageBytes, r.needRecordBytes));
          sorter.addDataPage(page);
          held.push_back(page);
        }
      }
    }
    sorter.sort();
    int64_t last = -1;
    for (;;) {
      auto next = sorter.nextBatch(100);
      if (next.batch.numRows == 0) break;
      CHECK(static_cast<int64_t>(next.partition) >= last);
      last = next.partition;
      auto rows = rowsOf(next.batch);
      auto& into = out[next.partition];
      into.insert(into.end(), rows.begin(), rows.end());
    }
    sorter.reset();
    CHECK_EQ(sorter.numRecords(), uint64_t{0});
  }
  table->freeAllPages();
  return out;
}

std::vector<Row> sortedRows(std::vector<Row> rows) {
  std::sort(rows.begin(), rows.end());
  return rows;
}

}  // namespace

TEST(packed_pointer_AC_PRP_01_round_trip) {
  const uint64_t address = encodePageNumberAndOffset(1, 42);
  const uint64_t packed = packRecordPointer(address, 360);
  CHECK_EQ(packedPartitionId(packed), 360u);
  CHECK_EQ(decodePageNumber(packedRecordPointer(packed)), 1u);
  CHECK_EQ(decodeOffset(packedRecordPointer(packed)), uint64_t{42});
  CHECK_EQ(packedRecordPointer(packed), address);
}

TEST(packed_pointer_AC_PRP_02_bounds) {
  CHECK_EQ(packedPartitionId(packRecordPointer(0, kMaximumPartitionId)), kMaximumPartitionId);
  CHECK_EQ(kMaximumPartitionId, 16777215u);
  // 2^24 does not round-trip: its bit falls off the top.
  CHECK(packedPartitionId(packRecordPointer(0, kMaximumPartitionId + 1)) != kMaximumPartitionId + 1);
  const uint64_t lastOffset = encodePageNumberAndOffset(0, (uint64_t{1} << 27) - 1);
  CHECK_EQ(packedRecordPointer(packRecordPointer(lastOffset, 0)), lastOffset);
  CHECK_EQ(packedRecordPointer(packRecordPointer(encodePageNumberAndOffset(0, uint64_t{1} << 27), 0)), uint64_t{0});
}

TEST(radix_sort_by_partition_seed_7_is_sorted_and_stable) {
  std::mt19937_64 rng(7);
  for (uint32_t partitions : {1u, 3u, 200u, 5000u, 16777216u}) {
    std::vector<uint64_t> data(10'000), scratch(10'000);
    for (size_t i = 0; i < data.size(); ++i) {
      data[i] = packRecordPointer(encodePageNumberAndOffset(0, i), static_cast<uint32_t>(rng() % partitions));
    }
    std::vector<uint64_t> expected = data;
    std::stable_sort(expected.begin(), expected.end(),
                     [](uint64_t a, uint64_t b) { return packedPartitionId(a) < packedPartitionId(b); });
    const uint64_t* result = radixSortByPartition(data.data(), scratch.data(), data.size());
    CHECK(std::equal(expected.begin(), expected.end(), result));
  }
}

TEST(shuffle_sorter_hash_seed_11_every_row_once_equal_keys_together) {
  const Table t = randomTable(11, 20'000, 500, 0.05);
  PartitionerSpec spec;
  spec.kind = PartitionerKind::kHash;
  spec.numPartitions = 7;
  spec.hashColumns = {0};
  auto out = shuffleAll(t, spec, nullptr, 4096);
  std::vector<Row> all;
  std::map<std::optional<int64_t>, uint32_t> partitionOfKey;
  for (auto& [partition, rows] : out) {
    CHECK(partition < 7u);
    for (const Row& row : rows) {
      auto [it, added] = partitionOfKey.emplace(row.first, partition);
      if (!added) CHECK_EQ(it->second, partition);
    }
    all.insert(all.end(), rows.begin(), rows.end());
  }
  std::vector<Row> input;
  for (size_t i = 0; i < t.keys.size(); ++i) input.emplace_back(t.keys[i], t.payloads[i]);
  CHECK(sortedRows(all) == sortedRows(input));
  CHECK(out.size() == 7u);  // 500 keys over 7 partitions: none empty
}

TEST(shuffle_sorter_round_robin_seed_12_spreads_evenly_from_start) {
  const Table t = randomTable(12, 1000, 100, 0.1);
  PartitionerSpec spec;
  spec.kind = PartitionerKind::kRoundRobin;
  spec.numPartitions = 4;
  spec.roundRobinStart = 3;
  auto out = shuffleAll(t, spec, nullptr, 4096);
  for (uint32_t p = 0; p < 4; ++p) CHECK_EQ(out[p].size(), size_t{250});
  // Row 0 goes to partition 3, row 1 to partition 0: each keeps insertion order.
  CHECK(out[3][0] == Row(t.keys[0], t.payloads[0]));
  CHECK(out[0][0] == Row(t.keys[1], t.payloads[1]));
}

TEST(shuffle_sorter_range_seed_13_partitions_are_ordered) {
  const Table t = randomTable(13, 5000, 10'000, 0.05);
  // Bounds -2000, 0, 2500 (ascending, nulls first): 4 partitions.
  Table boundsTable;
  for (int64_t b : {-2000, 0, 2500}) {
    boundsTable.keys.push_back(b);
    boundsTable.payloads.push_back(std::string("m"));
  }
  OwnedBatch bounds = makeBatch(boundsTable, 0, 3);
  PartitionerSpec spec;
  spec.kind = PartitionerKind::kRange;
  spec.numPartitions = 4;
  spec.sortKeys = {{0, false, true}, {1, false, true}};
  auto out = shuffleAll(t, spec, &bounds.view, 1 << 16);
  const std::optional<int64_t> lows[] = {std::nullopt, -2000, 0, 2500};
  const std::optional<int64_t> highs[] = {-2000, 0, 2500, std::nullopt};
  size_t total = 0;
  for (auto& [p, rows] : out) {
    total += rows.size();
    for (const Row& row : rows) {
      if (!row.first) {
        CHECK_EQ(p, 0u);  // nulls first: before every bound
        continue;
      }
      if (lows[p]) CHECK(*row.first >= *lows[p]);
      if (highs[p]) CHECK(*row.first <= *highs[p]);
    }
  }
  CHECK_EQ(total, t.keys.size());
}

TEST(shuffle_sorter_refuses_pages_above_2_27_and_unsorted_bounds) {
  auto table = std::make_shared<TaskPageTable>(PageAllocator::instance());
  {
    PartitionerSpec spec;
    ShuffleSorter sorter({{PhysicalType::kInt, 8}, {PhysicalType::kVarBinary, 4}}, spec, nullptr, table);
    auto big = table->allocatePage((uint64_t{1} << 27) + 8);
    CHECK_THROWS_CODE(sorter.addDataPage(big), ErrorCode::kInvalidArgument);
    Table boundsTable;
    for (int64_t b : {5, 1}) {
      boundsTable.keys.push_back(b);
      boundsTable.payloads.push_back(std::nullopt);
    }
    OwnedBatch bounds = makeBatch(boundsTable, 0, 2);
    PartitionerSpec range;
    range.kind = PartitionerKind::kRange;
    range.numPartitions = 3;
    range.sortKeys = {{0, false, true}};
    CHECK_THROWS_CODE(ShuffleSorter({{PhysicalType::kInt, 8}, {PhysicalType::kVarBinary, 4}}, range, &bounds.view, table),
                      ErrorCode::kInvalidArgument);
    PartitionerSpec none;
    none.numPartitions = 0;
    CHECK_THROWS_CODE(ShuffleSorter({{PhysicalType::kInt, 8}}, none, nullptr, table), ErrorCode::kInvalidArgument);
  }
  table->freeAllPages();
}

// One exact key and bounds without nulls: the partitioner places rows by prefix alone, with no
// records. Checked against counting the bounds that sort before each row, for both directions
// and both null placements.
TEST(range_partitioner_seed_14_by_prefix_matches_counting_bounds) {
  const Table t = randomTable(14, 3000, 1000, 0.1);
  Table boundsTable;
  for (int64_t b : {-300, -10, 0, 0, 250}) {
    boundsTable.keys.push_back(b);
    boundsTable.payloads.push_back(std::string("b"));
  }
  const OwnedBatch rows = makeBatch(t, 0, t.keys.size());
  const RowLayout layout({{PhysicalType::kInt, 8}, {PhysicalType::kVarBinary, 4}});
  for (bool descending : {false, true}) {
    for (bool nullsFirst : {false, true}) {
      Table sortedBounds = boundsTable;
      if (descending) std::reverse(sortedBounds.keys.begin(), sortedBounds.keys.end());
      const OwnedBatch bounds = makeBatch(sortedBounds, 0, sortedBounds.keys.size());
      PartitionerSpec spec;
      spec.kind = PartitionerKind::kRange;
      spec.numPartitions = 6;
      spec.sortKeys = {{0, descending, nullsFirst}};
      Partitioner partitioner(layout, spec, &bounds.view);
      CHECK(!partitioner.needsRecords());
      std::vector<uint32_t> ids(t.keys.size());
      partitioner.partitionsOf(rows.view, 0, t.keys.size(), nullptr, ids.data());
      for (size_t i = 0; i < t.keys.size(); ++i) {
        uint32_t before = 0;  // bounds that sort strictly before the row
        for (const auto& bound : sortedBounds.keys) {
          const auto& key = t.keys[i];
          const bool boundFirst = !key ? !nullsFirst : (descending ? *bound > *key : *bound < *key);
          before += boundFirst ? 1 : 0;
        }
        CHECK_EQ(ids[i], before);
      }
    }
  }
}
