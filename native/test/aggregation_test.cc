// Unit tests of the hash aggregation: the slot array's bounds and growth, and the aggregator
// end to end (in memory, spilling, spilling while read, multi-pass merges) against a reference
// built with std::map (seeds in the names).
#include <cmath>
#include <cstring>
#include <limits>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "aggregation_map.h"
#include "harness.h"
#include "hash_aggregator.h"
#include "page_allocator.h"
#include "test_tables.h"

using namespace tungsten;
using namespace tungsten::test;

namespace {

constexpr ColumnType kInt64{PhysicalType::kInt, 8};
constexpr ColumnType kUtf8{PhysicalType::kVarBinary, 4};

bool validAt(const OutputColumn& column, uint64_t i) {
  return column.nullCount == 0 || ((column.validity.data.get()[i / 8] >> (i % 8)) & 1);
}

// A number as text: integers in full, floats with %.17g, every NaN as "NaN" (its sign and
// payload depend on which operation made it, and partial sums combine in any order).
template <typename T>
std::string valueText(T value) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(value)) return "NaN";
    char text[64];
    std::snprintf(text, sizeof text, "%.17g", static_cast<double>(value));
    return text;
  } else if constexpr (std::is_signed_v<T>) {
    return std::to_string(static_cast<int64_t>(value));
  } else {
    return std::to_string(static_cast<uint64_t>(value));
  }
}

template <typename T>
std::string valueTextAt(const uint8_t* at) {
  T value;
  std::memcpy(&value, at, sizeof value);
  return valueText(value);
}

// The number of `type` (an integer or float of any width) at `at`, as valueText writes it.
std::string numberText(const ColumnType& type, const uint8_t* at) {
  const bool isFloat = type.physical == PhysicalType::kFloat;
  const bool isSigned = type.physical == PhysicalType::kInt;
  switch (type.width) {
    case 1: return isSigned ? valueTextAt<int8_t>(at) : valueTextAt<uint8_t>(at);
    case 2: return isSigned ? valueTextAt<int16_t>(at) : valueTextAt<uint16_t>(at);
    case 4: return isFloat ? valueTextAt<float>(at) : isSigned ? valueTextAt<int32_t>(at) : valueTextAt<uint32_t>(at);
    default: return isFloat ? valueTextAt<double>(at) : isSigned ? valueTextAt<int64_t>(at) : valueTextAt<uint64_t>(at);
  }
}

// One output row as text, from the columns' types: "null", numbers (numberText), 'strings'.
std::vector<std::string> rowsAsText(const OutputBatch& batch, const std::vector<ColumnType>& types) {
  std::vector<std::string> rows(batch.numRows);
  for (size_t c = 0; c < types.size(); ++c) {
    const OutputColumn& column = batch.columns[c];
    for (uint64_t i = 0; i < batch.numRows; ++i) {
      std::string cell = "null";
      if (validAt(column, i)) {
        if (types[c].physical == PhysicalType::kVarBinary) {
          int32_t start, end;
          std::memcpy(&start, column.offsets.data.get() + i * 4, 4);
          std::memcpy(&end, column.offsets.data.get() + (i + 1) * 4, 4);
          cell = "'" + std::string(reinterpret_cast<const char*>(column.values.data.get()) + start, end - start) + "'";
        } else {
          cell = numberText(types[c], column.values.data.get() + i * types[c].width);
        }
      }
      rows[i] += (c ? "|" : "") + cell;
    }
  }
  return rows;
}

std::string text(const std::optional<std::string>& s) { return s ? "'" + *s + "'" : "null"; }
std::string text(const std::optional<int64_t>& v) { return v ? std::to_string(*v) : "null"; }

struct RunShape {
  uint64_t pageBytes;
  size_t batchRows;
  size_t spillEvery;  // spill after every n-th batch; 0: never
  bool spillWhileReading;
  uint64_t maxSlots;  // the "grant" refuses larger slot arrays: the map must spill instead
  size_t mergeFanIn;  // > 0: merge runs this many at a time before the output
};

// Rows [from, to) of a test's input as a batch, valid until the next call.
using BatchSource = std::function<BatchView(size_t from, size_t to)>;

// Drives an aggregator as TypeScript does over `numRows` rows of `batchOf`: grants what
// insert() asks for, spills when the slot array may not grow, frees what a spill releases.
// Returns the output rows as text.
std::vector<std::string> aggregate(const AggregatorOptions& options, size_t numRows, const BatchSource& batchOf,
                                   const RunShape& shape, const std::vector<ColumnType>& outputTypes,
                                   const std::string& name, AggregatorMetrics* metrics = nullptr) {
  auto table = std::make_shared<TaskPageTable>(PageAllocator::instance());
  HashAggregator aggregator(options, table);
  std::vector<SpillRunInfo> runs;
  std::vector<std::shared_ptr<MemoryBlock>> owned;
  auto freeAll = [&] {
    for (auto& block : owned) {
      if (block->pageNumber >= 0) table->freePage(*block);
    }
    owned.clear();
  };
  int files = 0;
  auto spill = [&] {
    SpillRunInfo run = aggregator.spill(tempPath(name + "-run" + std::to_string(files++)));
    if (run.records > 0) runs.push_back(run);
    freeAll();
  };
  for (size_t from = 0, batchIndex = 0; from < numRows; from += shape.batchRows, ++batchIndex) {
    const BatchView batch = batchOf(from, std::min(numRows, from + shape.batchRows));
    uint64_t row = 0;
    while (true) {
      HashAggregator::InsertResult r = aggregator.insert(batch, row);
      row = r.nextRow;
      if (row == batch.numRows) break;
      if (r.needArray) {
        const uint64_t slots = aggregator.slotArrayCapacity() == 0 ? 64 : aggregator.slotArrayCapacity() * 2;
        if (slots > shape.maxSlots) {
          spill();
          continue;
        }
        auto array = table->allocatePage(slots * sizeof(MapSlot));
        aggregator.adoptSlotArray(array);
        owned.push_back(array);
      } else {
        auto page = table->allocatePage(std::max(shape.pageBytes, r.needPageBytes));
        aggregator.addDataPage(page);
        owned.push_back(page);
      }
    }
    if (shape.spillEvery > 0 && (batchIndex + 1) % shape.spillEvery == 0) spill();
  }
  while (shape.mergeFanIn > 1 && runs.size() > shape.mergeFanIn) {
    std::vector<SpillRunInfo> inputs(runs.begin(), runs.begin() + shape.mergeFanIn);
    SpillRunInfo merged = aggregator.mergeRuns(inputs, tempPath(name + "-merged" + std::to_string(files++)));
    for (const SpillRunInfo& run : inputs) removeSpillFile(run.path);
    runs.erase(runs.begin(), runs.begin() + shape.mergeFanIn);
    runs.push_back(merged);
  }
  aggregator.beginOutput(runs);
  std::vector<std::string> out;
  bool spilled = false;
  while (true) {
    OutputBatch batch = aggregator.nextBatch(37);
    if (batch.numRows == 0) break;
    for (std::string& row : rowsAsText(batch, outputTypes)) out.push_back(row);
    if (shape.spillWhileReading && !spilled && aggregator.outputReadsMemory()) {
      SpillRunInfo run = aggregator.spill(tempPath(name + "-reading"));
      if (run.records > 0) runs.push_back(run);
      freeAll();
      spilled = true;
    }
  }
  if (metrics) *metrics = aggregator.metrics();
  freeAll();
  for (const SpillRunInfo& run : runs) removeSpillFile(run.path);
  return out;
}

// The same over a Table's batches: [int64 key, utf8 payload], or the other way round with
// payloadFirst.
std::vector<std::string> aggregate(const AggregatorOptions& options, const Table& t, const RunShape& shape,
                                   const std::vector<ColumnType>& outputTypes, const std::string& name,
                                   AggregatorMetrics* metrics = nullptr, bool payloadFirst = false) {
  // Built in place (no move: the view points into the batch's own string, which a move of a
  // short string would leave behind).
  std::unique_ptr<OwnedBatch> current;
  const BatchSource batchOf = [&](size_t from, size_t to) {
    current.reset(new OwnedBatch(makeBatch(t, from, to)));
    if (payloadFirst) std::swap(current->view.columns[0], current->view.columns[1]);
    return current->view;
  };
  return aggregate(options, t.keys.size(), batchOf, shape, outputTypes, name, metrics);
}

const std::vector<RunShape> kShapes = {
    {1 << 20, 1000, 0, false, 1 << 20, 0},  // all in memory
    {4096, 500, 1, false, 1 << 20, 0},      // a spill after every batch, small pages
    {2048, 700, 0, true, 256, 0},           // spills when the slot array may not grow, and while read
    {4096, 300, 1, false, 1 << 20, 3},      // multi-pass merges
};

// Group by the int64 key (the integer fast path); strings in the buffers (entries move as
// min/max values grow).
TEST(aggregation_by_int_key_with_string_min_max_matches_reference_seed_21) {
  Table t = randomTable(21, 6000, 400, 0.1);
  AggregatorOptions options;
  options.keyColumns = {kInt64};
  options.aggregates = {{AggregateFunction::kCountStar, 0, kInt64, "count(*)"},
                        {AggregateFunction::kCount, 1, kUtf8, "count(p)"},
                        {AggregateFunction::kMin, 1, kUtf8, "min(p)"},
                        {AggregateFunction::kMax, 1, kUtf8, "max(p)"}};
  options.inputColumns = 2;
  options.spillBlockBytes = 4096;
  struct Group {
    int64_t count = 0, countP = 0;
    std::optional<std::string> minP, maxP;
  };
  std::map<std::optional<int64_t>, Group> groups;  // nullopt sorts first, as nulls come out
  for (size_t i = 0; i < t.keys.size(); ++i) {
    Group& g = groups[t.keys[i]];
    ++g.count;
    const auto& p = t.payloads[i];
    if (!p) continue;
    ++g.countP;
    if (!g.minP || *p < *g.minP) g.minP = p;
    if (!g.maxP || *p > *g.maxP) g.maxP = p;
  }
  std::vector<std::string> expected;
  for (const auto& [key, g] : groups) {
    expected.push_back(text(key) + "|" + std::to_string(g.count) + "|" + std::to_string(g.countP) + "|" +
                       text(g.minP) + "|" + text(g.maxP));
  }
  const std::vector<ColumnType> types = {kInt64, kInt64, kInt64, kUtf8, kUtf8};
  for (size_t s = 0; s < kShapes.size(); ++s) {
    AggregatorMetrics metrics;
    const auto got = aggregate(options, t, kShapes[s], types, "intkey" + std::to_string(s), &metrics);
    CHECK(got == expected);
    CHECK_EQ(metrics.rowsIn, uint64_t{6000});
    CHECK(metrics.hashProbes >= metrics.keyLookups);
    if (s > 0) CHECK(metrics.spillCount > 0);
    if (s == 3) CHECK(metrics.mergePasses > 0);
  }
}

// Group by the int64 key with fixed-width buffers only, so the dense index is in front of the
// map: keys mostly in a narrow range (inside the index's window) with far ones among them, nulls,
// and the first 1,100 keys null (the window is placed at a later chunk); then keys spread wide,
// which drop the index after its trial. Every shape: the index is emptied on each spill, grown
// slot array and sort, and must never hand out a group's buffers after its pages went.
TEST(aggregation_by_int_key_through_the_dense_index_matches_reference_seed_23) {
  for (const bool narrow : {true, false}) {
    // Wide: more rows than the index's trial, which drops it part-way.
    const size_t rows = narrow ? 20'000 : 70'000;
    Table t = randomTable(23, rows, narrow ? 400 : (int64_t{1} << 40), 0.05);
    if (narrow) {
      std::mt19937_64 rng(23);
      for (size_t i = 0; i < t.keys.size(); ++i) {
        if (i < 1100) t.keys[i] = std::nullopt;
        else if (t.keys[i] && rng() % 10 == 0) t.keys[i] = *t.keys[i] * 1'000'003 + 7;  // outside the window
      }
    }
    AggregatorOptions options;
    options.keyColumns = {kInt64};
    options.aggregates = {{AggregateFunction::kCountStar, 0, kInt64, "count(*)"},
                          {AggregateFunction::kCount, 1, kUtf8, "count(p)"},
                          {AggregateFunction::kSum, 0, kInt64, "sum(k)"},
                          {AggregateFunction::kMin, 0, kInt64, "min(k)"},
                          {AggregateFunction::kMax, 0, kInt64, "max(k)"}};
    options.inputColumns = 2;
    options.spillBlockBytes = 4096;
    struct Group {
      int64_t count = 0, countP = 0;
      std::optional<int64_t> sum, min, max;
    };
    std::map<std::optional<int64_t>, Group> groups;
    for (size_t i = 0; i < t.keys.size(); ++i) {
      Group& g = groups[t.keys[i]];
      ++g.count;
      if (t.payloads[i]) ++g.countP;
      if (const auto& k = t.keys[i]) {
        g.sum = g.sum.value_or(0) + *k;
        g.min = g.min ? std::min(*g.min, *k) : *k;
        g.max = g.max ? std::max(*g.max, *k) : *k;
      }
    }
    std::vector<std::string> expected;
    for (const auto& [key, g] : groups) {
      expected.push_back(text(key) + "|" + std::to_string(g.count) + "|" + std::to_string(g.countP) + "|" +
                         text(g.sum) + "|" + text(g.min) + "|" + text(g.max));
    }
    const std::vector<ColumnType> types = {kInt64, kInt64, kInt64, kInt64, kInt64, kInt64};
    for (size_t s = 0; s < kShapes.size(); ++s) {
      AggregatorMetrics metrics;
      const std::string name = std::string(narrow ? "dense" : "wide") + std::to_string(s);
      const auto got = aggregate(options, t, kShapes[s], types, name, &metrics);
      CHECK(got == expected);
      CHECK_EQ(metrics.rowsIn, uint64_t{rows});
      if (s > 0) CHECK(metrics.spillCount > 0);
      // Keys the index resolves are never looked up in the map (a spill or a larger slot array
      // empties it, so only the shape that never spills shows it plainly; nulls and the far keys
      // are a quarter of the rows).
      if (narrow && s == 0) CHECK(metrics.keyLookups < metrics.rowsIn / 2);
      if (!narrow) CHECK(metrics.keyLookups >= metrics.rowsIn);
    }
  }
}

// Group by the string payload (keys compared as bytes); sum, min, max and avg of the key.
TEST(aggregation_by_string_key_with_numbers_matches_reference_seed_22) {
  Table t = randomTable(22, 6000, 1000, 0.1);
  for (size_t i = 0; i < t.payloads.size(); ++i) {
    if (t.payloads[i]) t.payloads[i] = t.payloads[i]->substr(0, 2);  // a few hundred groups
  }
  AggregatorOptions options;
  options.keyColumns = {kUtf8};
  options.aggregates = {{AggregateFunction::kSum, 1, kInt64, "sum(k)"},
                        {AggregateFunction::kMin, 1, kInt64, "min(k)"},
                        {AggregateFunction::kMax, 1, kInt64, "max(k)"},
                        {AggregateFunction::kAvg, 1, kInt64, "avg(k)"}};
  options.inputColumns = 2;
  options.spillBlockBytes = 4096;
  struct Group {
    std::optional<int64_t> sum, min, max;
    int64_t count = 0;
  };
  std::map<std::optional<std::string>, Group> groups;
  for (size_t i = 0; i < t.keys.size(); ++i) {
    Group& g = groups[t.payloads[i]];
    const auto& k = t.keys[i];
    if (!k) continue;
    g.sum = g.sum.value_or(0) + *k;
    g.min = g.min ? std::min(*g.min, *k) : *k;
    g.max = g.max ? std::max(*g.max, *k) : *k;
    ++g.count;
  }
  std::vector<std::string> expected;
  for (const auto& [key, g] : groups) {
    std::string avg = "null";
    if (g.count > 0) {
      char buffer[64];
      std::snprintf(buffer, sizeof buffer, "%.17g", static_cast<double>(*g.sum) / static_cast<double>(g.count));
      avg = buffer;
    }
    expected.push_back(text(key) + "|" + text(g.sum) + "|" + text(g.min) + "|" + text(g.max) + "|" + avg);
  }
  const std::vector<ColumnType> types = {kUtf8, kInt64, kInt64, kInt64, {PhysicalType::kFloat, 8}};
  for (size_t s = 0; s < kShapes.size(); ++s) {
    AggregatorMetrics metrics;
    const auto got = aggregate(options, t, kShapes[s], types, "strkey" + std::to_string(s), &metrics, true);
    CHECK(got == expected);
    if (s > 0) CHECK(metrics.spillCount > 0);
  }
}

// count, sum, min and max of one numeric column go through applyFixed's fused pass when the
// batch has no nulls in that column, and through one pass per update when it has: the values
// have nulls only in two row ranges, so one aggregation takes both ways. A second sum and max
// of the column and min of the key column are not fused (one role each, one column). Floats
// include -0, +0, infinities and NaN (min and max in the sort's total order) and are exact
// halves otherwise, so sums do not depend on how partial sums combine.
template <typename T>
T fusedTestValue(std::mt19937_64& rng) {
  if constexpr (std::is_floating_point_v<T>) {
    constexpr T kInf = std::numeric_limits<T>::infinity();
    const T specials[] = {T(-0.0), T(0.0), kInf, -kInf, std::numeric_limits<T>::quiet_NaN()};
    if (rng() % 50 == 0) return specials[rng() % 5];
    return static_cast<T>(static_cast<int64_t>(rng() % 2001) - 1000) / T(2);
  } else if constexpr (std::is_signed_v<T>) {
    return static_cast<T>(static_cast<int64_t>(rng() % 201) - 100);
  } else {
    return static_cast<T>(rng() % 250);
  }
}

template <typename T>
bool totalOrderLess(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(a)) return false;
    if (std::isnan(b)) return true;
    if (a != b) return a < b;
    return std::signbit(a) && !std::signbit(b);
  } else {
    return a < b;
  }
}

template <typename T>
void checkFusedAggregation(const ColumnType& type, const std::string& typeName) {
  constexpr size_t kRows = 5000;
  std::mt19937_64 rng(33);
  std::vector<int64_t> keys(kRows);
  std::vector<T> values(kRows);
  std::vector<uint8_t> validity((kRows + 7) / 8, 0xff);
  for (size_t i = 0; i < kRows; ++i) {
    keys[i] = static_cast<int64_t>(rng() % 40);
    values[i] = fusedTestValue<T>(rng);
    const bool inNullRange = (i >= 1000 && i < 2000) || (i >= 3500 && i < 3700);
    if (inNullRange && rng() % 5 == 0) validity[i / 8] &= uint8_t(~(1u << (i % 8)));
  }
  auto isValid = [&](size_t i) { return ((validity[i / 8] >> (i % 8)) & 1) != 0; };
  using Sum = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;
  struct Group {
    int64_t count = 0, countV = 0, minK = 0;
    Sum sum = 0;
    double avgSum = 0;
    std::optional<T> min, max;
  };
  std::map<int64_t, Group> groups;
  for (size_t i = 0; i < kRows; ++i) {
    Group& g = groups[keys[i]];
    g.minK = g.count == 0 ? keys[i] : std::min(g.minK, keys[i]);
    ++g.count;
    if (!isValid(i)) continue;
    const T v = values[i];
    ++g.countV;
    g.sum += static_cast<Sum>(v);
    g.avgSum += static_cast<double>(v);
    if (!g.min || totalOrderLess(v, *g.min)) g.min = v;
    if (!g.max || totalOrderLess(*g.max, v)) g.max = v;
  }
  std::vector<std::string> expected;
  for (const auto& [key, g] : groups) {
    const std::string sum = g.countV ? valueText(g.sum) : "null";
    const std::string min = g.min ? valueText(*g.min) : "null";
    const std::string max = g.max ? valueText(*g.max) : "null";
    const std::string avg = g.countV ? valueText(g.avgSum / static_cast<double>(g.countV)) : "null";
    expected.push_back(std::to_string(key) + "|" + std::to_string(g.count) + "|" + std::to_string(g.countV) + "|" +
                       sum + "|" + min + "|" + max + "|" + avg + "|" + sum + "|" + max + "|" + std::to_string(g.minK));
  }
  AggregatorOptions options;
  options.keyColumns = {kInt64};
  options.aggregates = {{AggregateFunction::kCountStar, 0, type, "count(*)"}, {AggregateFunction::kCount, 1, type, "count(v)"},
                        {AggregateFunction::kSum, 1, type, "sum(v)"},        {AggregateFunction::kMin, 1, type, "min(v)"},
                        {AggregateFunction::kMax, 1, type, "max(v)"},        {AggregateFunction::kAvg, 1, type, "avg(v)"},
                        {AggregateFunction::kSum, 1, type, "sum(v)"},        {AggregateFunction::kMax, 1, type, "max(v)"},
                        {AggregateFunction::kMin, 0, kInt64, "min(k)"}};
  options.inputColumns = 2;
  options.spillBlockBytes = 4096;
  const ColumnType sumType = type.physical == PhysicalType::kFloat ? ColumnType{PhysicalType::kFloat, 8} : kInt64;
  const std::vector<ColumnType> types = {kInt64, kInt64, kInt64, sumType, type, type, {PhysicalType::kFloat, 8},
                                         sumType, type, kInt64};
  size_t batchesWithNulls = 0, batchesWithout = 0;
  const BatchSource batchOf = [&](size_t from, size_t to) {
    bool hasNulls = false;
    for (size_t i = from; i < to; ++i) hasNulls |= !isValid(i);
    (hasNulls ? batchesWithNulls : batchesWithout)++;
    BatchView view;
    view.numRows = to - from;
    ColumnView key{};
    key.type = kInt64;
    key.values = reinterpret_cast<const uint8_t*>(keys.data() + from);
    ColumnView value{};
    value.type = type;
    value.values = reinterpret_cast<const uint8_t*>(values.data() + from);
    value.validity = hasNulls ? validity.data() : nullptr;
    value.validityBitOffset = from;
    view.columns = {key, value};
    return view;
  };
  for (size_t s = 0; s < kShapes.size(); ++s) {
    const auto got = aggregate(options, kRows, batchOf, kShapes[s], types, "fused-" + typeName + std::to_string(s));
    if (got != expected) std::fprintf(stderr, "fused pass over %s, shape %zu differs\n", typeName.c_str(), s);
    CHECK(got == expected);
  }
  CHECK(batchesWithNulls > 0 && batchesWithout > 0);
}

TEST(aggregation_fused_pass_over_every_numeric_type_matches_reference_seed_33) {
  checkFusedAggregation<int8_t>({PhysicalType::kInt, 1}, "int8");
  checkFusedAggregation<int16_t>({PhysicalType::kInt, 2}, "int16");
  checkFusedAggregation<int32_t>({PhysicalType::kInt, 4}, "int32");
  checkFusedAggregation<int64_t>({PhysicalType::kInt, 8}, "int64");
  checkFusedAggregation<uint8_t>({PhysicalType::kUInt, 1}, "uint8");
  checkFusedAggregation<uint16_t>({PhysicalType::kUInt, 2}, "uint16");
  checkFusedAggregation<uint32_t>({PhysicalType::kUInt, 4}, "uint32");
  checkFusedAggregation<uint64_t>({PhysicalType::kUInt, 8}, "uint64");
  checkFusedAggregation<float>({PhysicalType::kFloat, 4}, "float32");
  checkFusedAggregation<double>({PhysicalType::kFloat, 8}, "float64");
}

// Alone (one pass) and with count(*) and max (the fused pass, as the column has no nulls).
TEST(aggregation_sum_overflow_is_an_error) {
  const AggregateSpec sum{AggregateFunction::kSum, 0, kInt64, "sum(k)"};
  for (const std::vector<AggregateSpec>& aggregates :
       {std::vector<AggregateSpec>{sum}, std::vector<AggregateSpec>{{AggregateFunction::kCountStar, 0, kInt64, "count(*)"},
                                                                    sum,
                                                                    {AggregateFunction::kMax, 0, kInt64, "max(k)"}}}) {
    auto table = std::make_shared<TaskPageTable>(PageAllocator::instance());
    AggregatorOptions options;
    options.aggregates = aggregates;
    options.inputColumns = 2;
    HashAggregator aggregator(options, table);
    auto array = table->allocatePage(64 * sizeof(MapSlot));
    aggregator.adoptSlotArray(array);
    auto page = table->allocatePage(4096);
    aggregator.addDataPage(page);
    Table t;
    t.keys = {INT64_MAX - 1, 1, 1};
    t.payloads = {std::nullopt, std::nullopt, std::nullopt};
    OwnedBatch batch = makeBatch(t, 0, 3);
    batch.view.columns[0].validity = nullptr;
    CHECK_THROWS_CODE(aggregator.insert(batch.view, 0), ErrorCode::kArithmeticOverflow);
    try {
      aggregator.insert(batch.view, 0);
    } catch (const Error& e) {
      CHECK(std::string(e.what()).find("sum(k) overflowed") != std::string::npos);
    }
    table->freePage(*page);
    table->freePage(*array);
  }
}

TEST(aggregation_map_rejects_bad_slot_arrays_ac_b2b_01) {
  auto table = std::make_shared<TaskPageTable>(PageAllocator::instance());
  AggregationMap map(*table);
  for (uint64_t slots : {uint64_t{0}, uint64_t{32}, uint64_t{100}, (uint64_t{1} << 29) + 1, uint64_t{1} << 30}) {
    auto block = std::make_shared<MemoryBlock>();
    block->size = slots * sizeof(MapSlot);  // never touched: the size is checked first
    CHECK_THROWS_CODE(map.adoptArray(block), ErrorCode::kInvalidArgument);
  }
  CHECK(!map.hasArray());
}

TEST(aggregation_map_growth_replaces_by_stored_hash) {
  auto table = std::make_shared<TaskPageTable>(PageAllocator::instance());
  AggregationMap map(*table);
  auto small = table->allocatePage(64 * sizeof(MapSlot));
  map.adoptArray(small);
  // Fake entries: addresses 8, 16, ... in page 0 (never dereferenced: no equal hashes).
  for (uint32_t k = 0; k < 32; ++k) {
    const uint32_t hash = k * 2654435761u;
    const uint64_t slot = map.find(hash, [](const uint8_t*) { return false; });
    map.insertAt(slot, 8 * (k + 1), hash);
  }
  CHECK(map.full());
  auto large = table->allocatePage(128 * sizeof(MapSlot));
  map.adoptArray(large);
  CHECK(!map.full());
  CHECK_EQ(map.numKeys(), uint64_t{32});
  uint64_t seen = 0;
  for (uint64_t i = 0; i < map.capacity(); ++i) seen += map.slots()[i].address != 0;
  CHECK_EQ(seen, uint64_t{32});
  map.releaseArray();
  table->freePage(*small);
  table->freePage(*large);
}

}  // namespace
