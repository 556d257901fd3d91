// Hash aggregation of one task with a sort-based fallback (Spark's HashAggregateExec over
// BytesToBytesMap and UnsafeKVExternalSorter, spark-semantics §3.10-3.11), in native memory that
// TypeScript grants.
//
// An entry is one group, stored as a record that the sorter's machinery can sort, spill and
// merge as it is:
//
//   +----------+------------------------------------------+------------------------------------+
//   | u32 len  | key payload                              | buffer payload                     |
//   | (bytes   | row_format.h payload of the key columns: | row_format.h payload of the buffer |
//   |  after   | null bitmap, slots, var bytes; K bytes   | columns (aggregate_functions.h);   |
//   |  it)     |                                          | var values may have slack after    |
//   |          |                                          | them                               |
//   +----------+------------------------------------------+------------------------------------+
//
// To the KeyComparator of the key layout an entry is a row (it reads slots only, never the
// length), so entries sort by key; K is the key layout's fixed payload, plus the end of the
// last var key value when there are var keys. Equal keys have equal key payloads: nulls have
// zero slots, and float keys are normalized (-0 becomes +0, every NaN the one quiet NaN), so
// the map compares bytes and the merge compares keys, and both agree.
//
// Life of an aggregation:
//   1. insert(batch, row) takes rows in chunks of 1024 (one row at a time when a buffer holds
//      var-width values): it finds or adds each row's group in the map, then updates the
//      buffers column by column. When the map is full or a page is, it stops at the start of
//      the chunk and says what it needs; TypeScript grants it, or spills, and calls again.
//      Finding groups is idempotent, so re-running a chunk's lookups is harmless, and no
//      buffer is touched before all of a chunk's groups are found.
//   2. spill(path): sorts the entries by key in the slot array itself (load factor 0.5 leaves
//      room for the pairs and the scratch) and writes them as one run; the map is then empty
//      and holds no memory.
//   3. beginOutput(runs) sorts what is in memory and merges it with the runs; nextBatch(n)
//      combines the buffers of equal keys as they meet and returns up to n groups as Arrow
//      buffers: keys and buffers (partial) or keys and final values (final, complete). So the
//      final pass holds one group at a time, never the whole map. Groups come out in key order
//      (ascending, nulls first).
//   4. While output is read, spill(path) writes the unread in-memory entries as a run.
//   5. mergeRuns() merges runs into one (combining equal keys), for multi-pass merges.
//
// Not thread-safe: TypeScript runs one operation at a time (on a worker thread).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "aggregate_functions.h"
#include "aggregation_map.h"
#include "arrow_output.h"
#include "data_pages.h"
#include "in_memory_sorter.h"
#include "row_format.h"
#include "run_merge.h"
#include "sort_key.h"
#include "spill_file.h"
#include "task_page_table.h"

namespace tungsten {

struct AggregatorOptions {
  // The input's first columns are the group keys (none: one global group).
  std::vector<ColumnType> keyColumns;
  std::vector<AggregateSpec> aggregates;
  AggregationMode mode = AggregationMode::kComplete;
  // Columns an input batch has (keys, then what the aggregates read).
  uint32_t inputColumns = 0;
  SpillCodec codec = SpillCodec::kNone;
  uint32_t spillBlockBytes = kDefaultSpillBlockBytes;
};

struct AggregatorMetrics {
  uint64_t rowsIn = 0;
  uint64_t groupsOut = 0;
  uint64_t spillCount = 0;
  uint64_t diskBytesSpilled = 0;
  uint64_t keyLookups = 0;
  uint64_t hashProbes = 0;
  uint64_t mergePasses = 0;
  uint64_t sortTimeNs = 0;
  uint64_t spillWriteTimeNs = 0;
};

class HashAggregator {
 public:
  HashAggregator(AggregatorOptions options, std::shared_ptr<TaskPageTable> pages);
  ~HashAggregator();

  // Memory from TypeScript.
  void addDataPage(std::shared_ptr<MemoryBlock> page) { dataPages_.add(std::move(page)); }
  // Adopts a slot array (the first, or a larger one), rehashing the groups into it; TypeScript
  // frees the previous one. Throws kInvalidPageState unless `array` is a live page of the task,
  // which checkSlotArray checks without adopting.
  void adoptSlotArray(std::shared_ptr<MemoryBlock> array);
  void checkSlotArray(const MemoryBlock& array) const;
  uint64_t slotArrayCapacity() const { return map_.capacity(); }
  uint64_t numGroupsInMemory() const { return map_.numKeys() + inMemory_.numRecords(); }
  uint64_t numDataPages() const { return dataPages_.count(); }
  AggregatorMetrics metrics() const;

  struct InsertResult {
    uint64_t nextRow;        // rows before this one are aggregated
    uint64_t needPageBytes;  // > 0: a page of at least this many bytes
    bool needArray;          // the map is full (or has no slot array): grow it or spill
  };
  InsertResult insert(const BatchView& batch, uint64_t startRow);

  // Writes the groups as a run sorted by key (see above) and lets go of every page and the slot
  // array; with no groups it writes nothing (a run of 0 records, no path) but still lets go.
  SpillRunInfo spill(const std::string& path);
  void beginOutput(const std::vector<SpillRunInfo>& runs);
  OutputBatch nextBatch(uint64_t maxGroups);
  bool outputStarted() const { return output_ != nullptr; }
  bool outputReadsMemory() const { return output_ && output_->readsMemory(); }
  SpillRunInfo mergeRuns(const std::vector<SpillRunInfo>& runs, const std::string& path);

 private:
  struct Chunk;
  uint32_t keyBytes(const uint8_t* entry) const;
  uint32_t hashOfEntry(const uint8_t* entry) const;
  template <typename T>
  uint64_t findIntKeys(const BatchView& batch, uint64_t row, uint64_t count, Chunk& chunk);
  uint64_t findRowKeys(const BatchView& batch, uint64_t row, uint64_t count, Chunk& chunk);
  uint64_t findKeys(const BatchView& batch, uint64_t row, uint64_t count, Chunk& chunk);
  // Adds the entry whose key payload (K bytes) is already written 4 bytes after the page
  // cursor; the cursor moves past it. Returns its buffer payload.
  uint8_t* addEntry(uint32_t keyPayloadBytes, uint64_t slot, uint32_t hash);
  bool applyVarRow(const BatchView& batch, uint64_t row, Chunk& chunk);
  void normalizeFloatKeys(uint8_t* keyPayload) const;
  InMemorySorter::Sorted sortInMemory();
  void dropMemory();
  void clearDenseIndex();
  template <typename T>
  void placeDenseWindow(const ColumnView& column, const uint8_t* values, uint64_t row, uint64_t count);
  void verifyPagesLive() const;
  // Appends the next group of `source` to the staging area, its records' buffers combined;
  // returns false at the end.
  template <typename Source>
  bool stageNextGroup(Source& source, uint64_t* prefix);
  void combineIntoStaged(size_t at, const uint8_t* other);
  void ensureStaging(size_t bytes);
  OutputBatch buildBatch(const std::vector<size_t>& groups);

  AggregatorOptions options_;
  RowLayout keyLayout_;
  KeyComparator comparator_;
  BufferOps ops_;
  std::shared_ptr<TaskPageTable> pages_;
  AggregationMap map_;
  InMemorySorter inMemory_;
  std::unique_ptr<Chunk> chunk_;  // per-chunk scratch (32 KiB), off the worker thread's stack
  DataPages dataPages_;
  // The key payload's length is fixed unless a key is var-width; then lastVarKeySlot_ is the
  // slot of the last var key, whose value ends the key payload.
  uint32_t fixedKeyBytes_;
  int64_t lastVarKeySlot_ = -1;
  std::vector<uint32_t> floatKeySlots_;
  std::vector<uint32_t> floatKeyWidths_;
  int intKeyKind_ = 0;  // nonzero: a single integer key of this C type (see findKeys)

  // The dense index in front of the map, for a single integer key without var-width buffers
  // (DuckDB's perfect hash aggregation, with the key range guessed rather than known from
  // statistics): the buffer payload of the group of key denseBase_ + d at denseIndex_[d], or
  // null. A key found there is neither hashed nor looked up in the map. The window is centred
  // on the median of the first chunk's keys (denseBase_ is a key as uint64_t; offsets wrap
  // like the integers they are). It is dropped for good when fewer than half the first
  // kDenseTrialRows non-null keys fall in it, and emptied whenever entries may move or go
  // (a new slot array, a sort, a spill). 32 KiB outside grants, like the chunk scratch.
  static constexpr uint64_t kDenseKeys = 4096;
  static constexpr uint64_t kDenseTrialRows = 65536;
  std::unique_ptr<uint8_t*[]> denseIndex_;
  uint64_t denseBase_ = 0;
  bool denseWindowPlaced_ = false;
  uint64_t denseTrialRows_ = 0;
  uint64_t denseTrialHits_ = 0;
  std::vector<BufferOps::VarValue> varValues_;

  std::unique_ptr<RunMerge> output_;
  bool emittedGlobalGroup_ = false;
  std::vector<uint8_t> staging_;
  size_t staged_ = 0;

  AggregatorMetrics metrics_;
  bool sawNullFirstKey_ = false;
  // The groups were sorted for a spill that failed: they wait in inMemory_, not in the map.
  bool sortedPending_ = false;
};

}  // namespace tungsten
