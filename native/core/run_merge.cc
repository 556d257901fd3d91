#include "run_merge.h"

#include "errors.h"

namespace tungsten {

// The sorted in-memory records as a source: the spans of InMemorySorter::Sorted, in order.
class RunMerge::InMemorySource : public RecordSource {
 public:
  InMemorySource(InMemorySorter::Sorted sorted, const TaskPageTable& pages, bool prefetch)
      : sorted_(sorted), pages_(pages), prefetch_(prefetch) {}

  bool next(RecordRef& out) override {
    while (span_ < 2 && index_ >= sorted_.lengths[span_]) {
      ++span_;
      index_ = 0;
    }
    lastReturned_ = span_ < 2;
    if (!lastReturned_) return false;
    const SortEntry* entries = sorted_.spans[span_];
    // Sorted rows sit at random places in the pages: when the reader touches each row at once
    // (merging with spill runs copies it), fetch a few rows ahead. Otherwise the rows are read
    // only when the batch is built, which prefetches for itself.
    if (prefetch_ && index_ + kPrefetchDistance < sorted_.lengths[span_]) {
      __builtin_prefetch(pages_.pointerTo(entries[index_ + kPrefetchDistance].address));
    }
    const SortEntry& entry = entries[index_++];
    out.prefix = entry.prefix;
    out.record = pages_.pointerTo(entry.address);
    return true;
  }

  // next() for up to `max` records, pointers only.
  uint64_t take(const uint8_t** out, uint64_t max) {
    uint64_t taken = 0;
    while (taken < max && span_ < 2) {
      const SortEntry* entries = sorted_.spans[span_];
      const uint64_t n = std::min(max - taken, sorted_.lengths[span_] - index_);
      for (uint64_t i = 0; i < n; ++i) out[taken + i] = pages_.pointerTo(entries[index_ + i].address);
      index_ += n;
      taken += n;
      if (index_ == sorted_.lengths[span_]) {
        if (taken < max) {
          ++span_;
          index_ = 0;
        } else {
          break;
        }
      }
    }
    if (taken > 0) lastReturned_ = true;
    return taken;
  }

  struct Position {
    int span;
    uint64_t index;
    bool lastReturned;
  };
  Position position() const { return {span_, index_, lastReturned_}; }
  void restore(const Position& p) {
    span_ = p.span;
    index_ = p.index;
    lastReturned_ = p.lastReturned;
  }

  // Steps back over the record last returned, which is the merger's head and not yet output.
  // After the end there is nothing to step back over.
  void unreadHead() {
    if (!lastReturned_) return;
    while (index_ == 0) index_ = sorted_.lengths[--span_];
    --index_;
    lastReturned_ = false;
  }

 private:
  InMemorySorter::Sorted sorted_;
  const TaskPageTable& pages_;
  static constexpr uint64_t kPrefetchDistance = 16;
  const bool prefetch_;
  int span_ = 0;
  uint64_t index_ = 0;
  bool lastReturned_ = false;
};

namespace {

// Stands in for a source that has nothing left.
class EmptySource : public RecordSource {
 public:
  bool next(RecordRef&) override { return false; }
};

}  // namespace

void writeSortedRun(const InMemorySorter::Sorted& sorted, const TaskPageTable& pages, SpillWriter& writer) {
  constexpr uint64_t kPrefetchDistance = 16;
  for (int span = 0; span < 2; ++span) {
    const SortEntry* entries = sorted.spans[span];
    const uint64_t n = sorted.lengths[span];
    for (uint64_t i = 0; i < n; ++i) {
      if (i + kPrefetchDistance < n) __builtin_prefetch(pages.pointerTo(entries[i + kPrefetchDistance].address));
      writer.write(entries[i].prefix, pages.pointerTo(entries[i].address));
    }
  }
}

std::vector<RecordSource*> openRunReaders(const std::vector<SpillRunInfo>& runs,
                                          std::vector<std::unique_ptr<SpillReader>>& readers) {
  std::vector<RecordSource*> sources;
  for (const SpillRunInfo& run : runs) {
    readers.push_back(std::make_unique<SpillReader>(run));
    sources.push_back(readers.back().get());
  }
  return sources;
}

RunMerge::RunMerge(const std::vector<SpillRunInfo>& runs, const InMemorySorter::Sorted& memory,
                   const TaskPageTable& pages, const KeyComparator& comparator, bool touchesEveryRecord)
    : comparator_(comparator) {
  std::vector<RecordSource*> sources = openRunReaders(runs, readers_);
  if (memory.lengths[0] + memory.lengths[1] > 0) {
    memorySource_ = std::make_unique<InMemorySource>(memory, pages, touchesEveryRecord || !readers_.empty());
    memorySourceIndex_ = sources.size();
    sources.push_back(memorySource_.get());
  }
  if (!readers_.empty() || !memorySource_) merger_ = std::make_unique<Merger>(std::move(sources), comparator);
}

bool RunMerge::next(RecordRef& out) {
  if (merger_) return merger_->next(out);
  return memorySource_->next(out);
}

void RunMerge::pushBack() {
  if (merger_) merger_->pushBack();
  else memorySource_->unreadHead();
}

uint64_t RunMerge::takeFromMemory(const uint8_t** out, uint64_t max) {
  if (merger_) throw Error(ErrorCode::kInvalidArgument, "takeFromMemory while runs are merged");
  return memorySource_->take(out, max);
}

RunMerge::~RunMerge() = default;

SpillRunInfo RunMerge::spillMemory(const std::string& path, SpillCodec codec, uint32_t blockBytes) {
  SpillRunInfo run;
  if (!memorySource_) return run;
  // Through the merger, the in-memory source is one record ahead of the output: the merger's
  // head, pulled and not yet returned, is unread. Read directly, nothing is ahead.
  if (merger_) merger_->settle();
  const InMemorySource::Position before = memorySource_->position();
  if (merger_) memorySource_->unreadHead();
  RecordRef record;
  // Everything in memory already read: there is nothing to write, and no file is made (an empty
  // run would only be opened and merged for nothing).
  const bool anyUnread = memorySource_->next(record);
  try {
    if (anyUnread) {
      SpillWriter writer(path, codec, blockBytes);
      do writer.write(record.prefix, record.record);
      while (memorySource_->next(record));
      run = writer.finish();
    }
  } catch (...) {
    // The file is gone (the writer removed it) and reading goes on from memory as before.
    memorySource_->restore(before);
    throw;
  }
  // The merger must never keep a pointer to the source destroyed below, even an exhausted one.
  static EmptySource empty;
  RecordSource* replacement = &empty;
  if (run.records > 0) {
    readers_.push_back(std::make_unique<SpillReader>(run));
    replacement = readers_.back().get();
  }
  if (merger_) {
    merger_->replaceSource(memorySourceIndex_, replacement);
  } else {
    merger_ = std::make_unique<Merger>(std::vector<RecordSource*>{replacement}, comparator_);
  }
  memorySource_.reset();
  return run;
}

}  // namespace tungsten
