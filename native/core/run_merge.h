// Reading sorted runs back as one stream: the merge of spill runs and of what is still in
// memory, shared by the external sorter and the hash aggregation (one spill format, one merge).
//
// RunMerge owns the readers of the runs and the source over the sorted in-memory entries, and
// merges them with a loser tree (merger.h). While it reads, spillMemory() writes the unread
// in-memory records to a new run and continues from that file (Spark's SpillableIterator), so
// that the pages behind them can be freed; if that write fails, reading goes on from memory
// where it was and the failed file is gone.
//
// A record returned by next() stays valid until the following next() or settle(). Records from
// pages stay put after that; records from spill readers do not (stable() says which).
//
// With no runs (a sort or aggregation that never spilled), the in-memory entries are read
// directly, without the merger's tournament: takeFromMemory() hands out record pointers a batch
// at a time. Should spillMemory() then move the unread entries to a run, reading goes on from it
// through a merger of that one run.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "clock.h"
#include "in_memory_sorter.h"
#include "merger.h"
#include "spill_file.h"
#include "task_page_table.h"

namespace tungsten {

// Writes sorted in-memory entries to a run, prefetching rows ahead: they sit at random places
// in the pages.
void writeSortedRun(const InMemorySorter::Sorted& sorted, const TaskPageTable& pages, SpillWriter& writer);

// Opens a reader per run into `readers`; returns them as merge sources, in order.
std::vector<RecordSource*> openRunReaders(const std::vector<SpillRunInfo>& runs,
                                          std::vector<std::unique_ptr<SpillReader>>& readers);

// Merges `runs` into one new run at `path`: `copy(merger, writer)` moves the merged records
// into the writer (as they are, or combined). The inputs stay; the caller removes them.
template <typename Copy>
SpillRunInfo mergeRunsToFile(const std::vector<SpillRunInfo>& runs, const KeyComparator& comparator,
                             const std::string& path, SpillCodec codec, uint32_t blockBytes, Copy&& copy) {
  std::vector<std::unique_ptr<SpillReader>> readers;
  Merger merger(openRunReaders(runs, readers), comparator);
  SpillWriter writer(path, codec, blockBytes);
  copy(merger, writer);
  return writer.finish();
}

class RunMerge {
 public:
  // `memory` may have no entries. The comparator and pages must outlive this object.
  // `touchesEveryRecord`: the reader reads each record as it comes (the aggregation combines
  // them), so records in pages are prefetched a few ahead even when nothing else is merged.
  RunMerge(const std::vector<SpillRunInfo>& runs, const InMemorySorter::Sorted& memory,
           const TaskPageTable& pages, const KeyComparator& comparator, bool touchesEveryRecord = false);
  ~RunMerge();

  bool next(RecordRef& out);
  void pushBack();
  void settle() {
    if (merger_) merger_->settle();
  }
  // True while the in-memory entries are read directly (no run is being merged): then
  // takeFromMemory() may stand in for next().
  bool readsMemoryDirectly() const { return !merger_; }
  // Up to `max` records' pointers from memory (readsMemoryDirectly() must hold); returns how
  // many, 0 at the end.
  uint64_t takeFromMemory(const uint8_t** out, uint64_t max);
  // True while some of the output still comes from pages.
  bool readsMemory() const { return memorySource_ != nullptr; }
  // True when every record comes from pages: a returned record stays valid.
  bool stable() const { return readers_.empty(); }

  // Writes the unread in-memory records to `path` and reads them from there; afterwards no page
  // is referenced. Returns the run (0 records and no file when nothing was left in memory).
  SpillRunInfo spillMemory(const std::string& path, SpillCodec codec, uint32_t blockBytes);

 private:
  class InMemorySource;
  std::unique_ptr<InMemorySource> memorySource_;
  std::vector<std::unique_ptr<SpillReader>> readers_;
  // Null while the in-memory entries are read directly (there were no runs).
  std::unique_ptr<Merger> merger_;
  size_t memorySourceIndex_ = 0;
  const KeyComparator& comparator_;
};

}  // namespace tungsten
