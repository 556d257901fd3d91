#include "external_sorter.h"

#include <algorithm>
#include <cstring>

#include "errors.h"

namespace tungsten {

ExternalSorter::ExternalSorter(SorterOptions options, std::shared_ptr<TaskPageTable> pages)
    : options_(std::move(options)),
      layout_(options_.columns),
      comparator_(layout_, options_.keys),
      pages_(std::move(pages)),
      inMemory_(comparator_, *pages_),
      dataPages_(*pages_, "sorter") {}

ExternalSorter::~ExternalSorter() = default;

void ExternalSorter::verifyPagesLive() const { dataPages_.checkLive({inMemory_.array()}); }

void ExternalSorter::addDataPage(std::shared_ptr<MemoryBlock> page) { dataPages_.add(std::move(page)); }

void ExternalSorter::replacePointerArray(std::shared_ptr<MemoryBlock> array) {
  pages_->checkOwnPage(*array);
  inMemory_.replaceArray(std::move(array));
}

ExternalSorter::InsertResult ExternalSorter::insert(const BatchView& batch, uint64_t row) {
  if (batch.columns.size() != layout_.numColumns()) {
    throw Error(ErrorCode::kInvalidArgument, "the batch has " + std::to_string(batch.columns.size()) +
                                                 " columns, the sorter " + std::to_string(layout_.numColumns()));
  }
  verifyPagesLive();
  const bool hasKeys = comparator_.hasKeys();
  const ColumnView& keyColumn = batch.columns[hasKeys ? comparator_.firstKeyColumn() : 0];
  constexpr uint64_t kChunk = 1024;
  uint8_t* records[kChunk];
  uint64_t prefixes[kChunk];
  while (row < batch.numRows) {
    if (!inMemory_.hasArray() || !inMemory_.hasSpaceForAnotherRecord()) return {row, 0, true};
    const uint64_t room = inMemory_.usableCapacity() - inMemory_.numRecords();
    const uint64_t limit = std::min({kChunk, batch.numRows - row, room});
    uint64_t blockedBy = 0;
    const uint64_t count = dataPages_.takeRecords(layout_, batch, row, limit, records, &blockedBy);
    if (count == 0) return {row, blockedBy, false};

    layout_.writeRows(batch, row, count, records);
    const bool mayBeNull = hasKeys && keyColumn.validity != nullptr;
    if (hasKeys) comparator_.prefixes(keyColumn, row, count, prefixes);
    for (uint64_t i = 0; i < count; ++i) {
      const uint64_t address = dataPages_.addressOf(records[i]);
      const bool isNull = mayBeNull && keyColumn.isNull(row + i);
      sawNullFirstKey_ |= isNull;
      inMemory_.insert(isNull || !hasKeys ? 0 : prefixes[i], address, isNull);
    }
    row += count;
    metrics_.rowsInserted += count;
  }
  return {row, 0, false};
}

void ExternalSorter::dropMemory() {
  inMemory_.releaseArray();
  dataPages_.clear();
}

SpillRunInfo ExternalSorter::spill(const std::string& path) {
  SpillRunInfo run;
  if (output_) {
    // Spilling while output is read: write what the in-memory source has not yet produced.
    if (!output_->readsMemory()) return run;
    const auto start = std::chrono::steady_clock::now();
    run = output_->spillMemory(path, options_.codec, options_.spillBlockBytes);
    metrics_.spillWriteTimeNs += nanosSince(start);
    dropMemory();
  } else {
    if (inMemory_.numRecords() == 0) return run;
    verifyPagesLive();
    auto start = std::chrono::steady_clock::now();
    InMemorySorter::Sorted sorted = inMemory_.sort();
    metrics_.sortTimeNs += nanosSince(start);
    start = std::chrono::steady_clock::now();
    SpillWriter writer(path, options_.codec, options_.spillBlockBytes);
    writeSortedRun(sorted, *pages_, writer);
    run = writer.finish();
    metrics_.spillWriteTimeNs += nanosSince(start);
    dropMemory();
  }
  // A spill that found nothing left to write (output already read past memory) only let go
  // of the pages: not a spill.
  if (run.records > 0) metrics_.spillCount += 1;
  metrics_.diskBytesSpilled += run.fileBytes;
  return run;
}

void ExternalSorter::beginOutput(const std::vector<SpillRunInfo>& runs) {
  if (output_) throw Error(ErrorCode::kInvalidArgument, "output has already begun");
  comparator_.setFirstKeyMayBeNull(sawNullFirstKey_);
  verifyPagesLive();
  InMemorySorter::Sorted sorted{{nullptr, nullptr}, {0, 0}};
  if (inMemory_.numRecords() > 0) {
    const auto start = std::chrono::steady_clock::now();
    sorted = inMemory_.sort();
    metrics_.sortTimeNs += nanosSince(start);
  }
  output_ = std::make_unique<RunMerge>(runs, sorted, *pages_, comparator_);
}

bool ExternalSorter::outputReadsMemory() const { return output_ && output_->readsMemory(); }

void ExternalSorter::endOutput() { output_.reset(); }

OutputBatch ExternalSorter::nextBatch(uint64_t maxRows) {
  if (!output_) throw Error(ErrorCode::kInvalidArgument, "nextBatch before beginOutput");
  if (output_->readsMemory()) verifyPagesLive();
  // Records from pages stay put; records from spill readers live in buffers the next read may
  // reuse, so those are copied to the staging area, and their pointers taken once it stops
  // growing.
  const bool stable = output_->stable();
  batchRecords_.clear();
  batchRecords_.reserve(std::min<uint64_t>(maxRows, 1 << 20));
  size_t staged = 0;
  // Var-width columns with 4-byte offsets must stay below 2 GiB per batch.
  std::vector<uint32_t> narrowVarSlots;
  for (uint32_t column : layout_.varColumns()) {
    if (layout_.columns()[column].width == 4) narrowVarSlots.push_back(layout_.slotOffset(column));
  }
  if (narrowVarSlots.empty() && output_->readsMemoryDirectly()) {
    // Never spilled: the sorted entries' records, without the merge.
    for (uint64_t count = 0; count < maxRows;) {
      const uint64_t want = std::min<uint64_t>(maxRows - count, 1 << 20);
      batchRecords_.resize(count + want);
      const uint64_t taken = output_->takeFromMemory(batchRecords_.data() + count, want);
      count += taken;
      batchRecords_.resize(count);
      if (taken < want) break;
    }
    return buildOutputBatch(layout_, batchRecords_.data(), batchRecords_.size());
  }
  std::vector<uint64_t> varBytes(narrowVarSlots.size(), 0);
  std::vector<uint32_t> lengths(narrowVarSlots.size(), 0);
  RecordRef record;
  while (batchRecords_.size() < maxRows && output_->next(record)) {
    if (!narrowVarSlots.empty()) {
      const uint8_t* payload = RowLayout::payload(record.record);
      bool fits = true;
      for (size_t v = 0; v < narrowVarSlots.size(); ++v) {
        RowLayout::varValue(payload, narrowVarSlots[v], &lengths[v]);
        fits &= varBytes[v] + lengths[v] <= INT32_MAX;
      }
      if (!fits && !batchRecords_.empty()) {
        output_->pushBack();  // it opens the next batch
        break;
      }
      for (size_t v = 0; v < narrowVarSlots.size(); ++v) varBytes[v] += lengths[v];
    }
    if (stable) {
      batchRecords_.push_back(record.record);
    } else {
      const size_t bytes = kRecordLengthBytes + RowLayout::payloadLength(record.record);
      if (staged + bytes > staging_.size()) staging_.resize(std::max(staging_.size() * 2, staged + bytes + (1 << 20)));
      std::memcpy(staging_.data() + staged, record.record, bytes);
      batchRecords_.push_back(reinterpret_cast<const uint8_t*>(staged));  // an offset until the end
      staged += bytes;
    }
  }
  output_->settle();
  if (!stable) {
    for (const uint8_t*& at : batchRecords_) at = staging_.data() + reinterpret_cast<size_t>(at);
  }
  return buildOutputBatch(layout_, batchRecords_.data(), batchRecords_.size());
}

SpillRunInfo ExternalSorter::mergeRuns(const std::vector<SpillRunInfo>& runs, const std::string& path) {
  comparator_.setFirstKeyMayBeNull(sawNullFirstKey_);
  const auto start = std::chrono::steady_clock::now();
  SpillRunInfo merged = mergeRunsToFile(runs, comparator_, path, options_.codec, options_.spillBlockBytes,
                                        [](Merger& merger, SpillWriter& writer) {
                                          RecordRef record;
                                          while (merger.next(record)) writer.write(record.prefix, record.record);
                                        });
  metrics_.spillWriteTimeNs += nanosSince(start);
  metrics_.mergePasses += 1;
  metrics_.diskBytesSpilled += merged.fileBytes;
  return merged;
}

}  // namespace tungsten
