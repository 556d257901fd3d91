// The external sorter of one task (Spark's UnsafeExternalSorter, spark-semantics §3.4), in
// native memory that TypeScript grants.
//
// Who owns what: TypeScript acquires every data page and the pointer array through the task's
// TaskMemoryManager and hands them over (addDataPage, replacePointerArray); this class writes
// rows into them and never allocates a page itself. When it lets go of memory (after a spill)
// it drops its references, and TypeScript frees the pages. Spill files are named by
// TypeScript; this class writes, reads and, on request, removes them.
//
// Life of a sort:
//   1. insert(batch, row) copies rows into the current page and (prefix, address) entries into
//      the pointer array, until the batch is done or the page or the array is full; then it
//      says what it needs (a page for a record of N bytes, or a larger array) and TypeScript
//      grants it, spilling if it must, and calls insert again from where it stopped.
//   2. spill(path) sorts the in-memory records and writes them as one run; afterwards the
//      sorter holds no memory.
//   3. beginOutput(runs) sorts what is still in memory and merges it with the runs (a loser
//      tree; one run and no memory: just that run). nextBatch(n) returns up to n rows as
//      Arrow buffers.
//   4. While output is read, spill(path) writes the unread in-memory records as a run and
//      continues from that file (Spark's SpillableIterator), freeing the pages.
//   5. mergeRuns() merges runs into one larger run, for multi-pass merges that the memory for
//      read buffers does not allow in one pass.
//
// Not thread-safe: TypeScript runs one operation of a sorter at a time (on a worker thread).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "arrow_output.h"
#include "data_pages.h"
#include "in_memory_sorter.h"
#include "merger.h"
#include "row_format.h"
#include "run_merge.h"
#include "sort_key.h"
#include "spill_file.h"
#include "task_page_table.h"

namespace tungsten {

struct SorterOptions {
  std::vector<ColumnType> columns;
  std::vector<SortKey> keys;
  SpillCodec codec = SpillCodec::kNone;
  uint32_t spillBlockBytes = kDefaultSpillBlockBytes;
};

struct SorterMetrics {
  uint64_t rowsInserted = 0;
  uint64_t sortTimeNs = 0;
  uint64_t spillWriteTimeNs = 0;
  uint64_t spillCount = 0;
  uint64_t diskBytesSpilled = 0;
  uint64_t mergePasses = 0;
};

class ExternalSorter {
 public:
  ExternalSorter(SorterOptions options, std::shared_ptr<TaskPageTable> pages);
  ~ExternalSorter();

  const RowLayout& layout() const { return layout_; }
  const SorterMetrics& metrics() const { return metrics_; }

  // Memory from TypeScript.
  void addDataPage(std::shared_ptr<MemoryBlock> page);
  // Adopts a larger (or the first) pointer array; TypeScript frees the returned old one.
  void replacePointerArray(std::shared_ptr<MemoryBlock> array);
  // The pointer array grew in place (TypeScript grew its page).
  void pointerArrayGrown() { inMemory_.arrayGrown(); }
  uint64_t pointerArrayCapacityBytes() const { return inMemory_.arrayBytes(); }
  uint64_t numInMemoryRecords() const { return inMemory_.numRecords(); }
  uint64_t numDataPages() const { return dataPages_.count(); }

  struct InsertResult {
    uint64_t nextRow;          // rows before this one are inserted
    uint64_t needRecordBytes;  // > 0: a page with room for a record of this many bytes
    bool needArray;            // the pointer array is full
  };
  InsertResult insert(const BatchView& batch, uint64_t startRow);

  // Sorts and writes the in-memory records as a run (also while output is read); returns it.
  // Afterwards no page or array is referenced. With no in-memory records it writes nothing and
  // returns a run of 0 records (path empty).
  SpillRunInfo spill(const std::string& path);

  void beginOutput(const std::vector<SpillRunInfo>& runs);
  // Up to maxRows rows, fewer at the end (0: done). Row count is also capped so that a
  // 4-byte-offset column's bytes stay below 2 GiB.
  OutputBatch nextBatch(uint64_t maxRows);
  bool outputStarted() const { return output_ != nullptr; }
  // Ends an output that is not the sorter's last: closes the readers and the merge, so that
  // rows can be inserted and read again (a sorter without keys keeps insertion order in memory).
  void endOutput();
  // True while output is read and some of it still comes from pages.
  bool outputReadsMemory() const;

  // Merges `runs` into one run at `path` (runs are left in place; the caller removes them).
  SpillRunInfo mergeRuns(const std::vector<SpillRunInfo>& runs, const std::string& path);

 private:
  class InMemorySource;
  void verifyPagesLive() const;
  // Writes sorted in-memory records to a run, prefetching rows ahead: they sit at random
  // places in the pages.
  void writeSorted(const InMemorySorter::Sorted& sorted, SpillWriter& writer) const;
  void dropMemory();

  SorterOptions options_;
  RowLayout layout_;
  KeyComparator comparator_;
  std::shared_ptr<TaskPageTable> pages_;
  InMemorySorter inMemory_;
  DataPages dataPages_;

  // Output state.
  std::unique_ptr<RunMerge> output_;
  std::vector<uint8_t> staging_;
  std::vector<const uint8_t*> batchRecords_;

  SorterMetrics metrics_;
  bool sawNullFirstKey_ = false;
};

}  // namespace tungsten
