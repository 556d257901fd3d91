#include "shuffle_sorter.h"

#include <algorithm>
#include <chrono>
#include <string>

#include "clock.h"
#include "errors.h"
#include "file_io.h"

namespace tungsten {

uint64_t* radixSortByPartition(uint64_t* data, uint64_t* scratch, uint64_t n) {
  constexpr int kBytes = kPartitionIdEndByte - kPartitionIdStartByte + 1;
  uint64_t counts[kBytes][256] = {};
  for (uint64_t i = 0; i < n; ++i) {
    const uint64_t v = data[i];
    for (int b = 0; b < kBytes; ++b) ++counts[b][(v >> (8 * (kPartitionIdStartByte + b))) & 0xFF];
  }
  uint64_t* from = data;
  uint64_t* to = scratch;
  for (int b = 0; b < kBytes; ++b) {
    const int shift = 8 * (kPartitionIdStartByte + b);
    // Spark's skip: a byte that is the same in every entry changes nothing.
    if (n == 0 || counts[b][(from[0] >> shift) & 0xFF] == n) continue;
    uint64_t offsets[256];
    uint64_t sum = 0;
    for (int d = 0; d < 256; ++d) {
      offsets[d] = sum;
      sum += counts[b][d];
    }
    for (uint64_t i = 0; i < n; ++i) to[offsets[(from[i] >> shift) & 0xFF]++] = from[i];
    std::swap(from, to);
  }
  return from;
}

ShuffleSorter::ShuffleSorter(std::vector<ColumnType> columns, PartitionerSpec partitioner,
                             const BatchView* rangeBounds, std::shared_ptr<TaskPageTable> pages)
    : layout_(std::move(columns)),
      pages_(std::move(pages)),
      partitioner_(layout_, std::move(partitioner), rangeBounds),
      dataPages_(*pages_, "shuffle sorter") {}

void ShuffleSorter::addDataPage(std::shared_ptr<MemoryBlock> page) {
  if (page->size > kMaximumShufflePageSizeBytes) {
    throw Error(ErrorCode::kInvalidArgument, "a shuffle page holds at most 2^27 bytes (the packed pointer's offset), not " +
                                                 std::to_string(page->size));
  }
  dataPages_.add(std::move(page));
}

void ShuffleSorter::replacePointerArray(std::shared_ptr<MemoryBlock> array) {
  pages_->checkOwnPage(*array);
  const uint64_t usable = array->size / 16;
  if (usable < numRecords_ || usable == 0) {
    throw Error(ErrorCode::kInvalidArgument, "the new pointer array cannot hold the records in memory");
  }
  if (array_ && numRecords_ > 0) std::memcpy(array->data, array_->data, numRecords_ * 8);
  array_ = std::move(array);
  usable_ = usable;
  isSorted_ = false;
}

ShuffleSorter::InsertResult ShuffleSorter::insert(const BatchView& batch, uint64_t row) {
  if (batch.columns.size() != layout_.numColumns()) {
    throw Error(ErrorCode::kInvalidArgument, "the batch has " + std::to_string(batch.columns.size()) +
                                                 " columns, the shuffle sorter " + std::to_string(layout_.numColumns()));
  }
  if (isSorted_) throw Error(ErrorCode::kInvalidArgument, "rows cannot be inserted while sorted rows are read; reset first");
  dataPages_.checkLive({array_.get()});
  constexpr uint64_t kChunk = 1024;
  uint8_t* records[kChunk];
  uint32_t partitions[kChunk];
  while (row < batch.numRows) {
    if (!array_ || numRecords_ >= usable_) return {row, 0, true};
    const uint64_t limit = std::min({kChunk, batch.numRows - row, usable_ - numRecords_});
    uint64_t blockedBy = 0;
    const uint64_t count = dataPages_.takeRecords(layout_, batch, row, limit, records, &blockedBy);
    if (count == 0) {
      if (blockedBy > kMaximumShufflePageSizeBytes) {
        throw Error(ErrorCode::kRecordTooLarge, "a row needs " + std::to_string(blockedBy) +
                                                    " bytes, more than a shuffle page holds (2^27 bytes)");
      }
      return {row, blockedBy, false};
    }
    layout_.writeRows(batch, row, count, records);
    partitioner_.partitionsOf(batch, row, count, records, partitions);
    uint64_t* out = pointers() + numRecords_;
    for (uint64_t i = 0; i < count; ++i) out[i] = packRecordPointer(dataPages_.addressOf(records[i]), partitions[i]);
    numRecords_ += count;
    row += count;
    metrics_.rowsInserted += count;
  }
  return {row, 0, false};
}

void ShuffleSorter::sort() {
  dataPages_.checkLive({array_.get()});
  const auto start = std::chrono::steady_clock::now();
  if (numRecords_ > 0) {
    sorted_ = radixSortByPartition(pointers(), pointers() + usable_, numRecords_);
  }
  cursor_ = 0;
  isSorted_ = true;
  metrics_.sortTimeNs += nanosSince(start);
}

ShuffleSorter::PartitionBatch ShuffleSorter::nextBatch(uint64_t maxRows, OutputArena* arena) {
  if (!isSorted_) throw Error(ErrorCode::kInvalidArgument, "sort() the shuffle sorter before reading it");
  dataPages_.checkLive({array_.get()});
  PartitionBatch result;
  if (cursor_ >= numRecords_) return result;
  // A 1 GiB cap on a batch's bytes keeps a var-width column's 4-byte offsets below 2 GiB.
  constexpr uint64_t kMaxBatchBytes = uint64_t{1} << 30;
  const uint32_t partition = packedPartitionId(sorted_[cursor_]);
  batchRecords_.clear();
  uint64_t bytes = 0;
  while (cursor_ < numRecords_ && batchRecords_.size() < maxRows && packedPartitionId(sorted_[cursor_]) == partition) {
    const uint8_t* record = pages_->pointerTo(packedRecordPointer(sorted_[cursor_]));
    bytes += RowLayout::payloadLength(record);
    if (!batchRecords_.empty() && bytes > kMaxBatchBytes) break;
    batchRecords_.push_back(record);
    ++cursor_;
  }
  result.partition = partition;
  result.batch = buildOutputBatch(layout_, batchRecords_.data(), batchRecords_.size(), arena);
  return result;
}

std::vector<uint64_t> ShuffleSorter::writeSorted(const PartitionFile& file, uint64_t maxRows, IpcCompression compression,
                                                 uint64_t writeBufferBytes) {
  if (!isSorted_) sort();
  std::vector<uint64_t> written(numPartitions(), 0);
  uint64_t flushed = 0;  // bytes already in the file; the buffer holds the rest
  encoded_.clear();
  auto flush = [&]() {
    if (encoded_.empty()) return;
    writeFileFully(file.fd, encoded_.data(), encoded_.size(), static_cast<int64_t>(file.offset + flushed), file.path,
                   "shuffle device");
    flushed += encoded_.size();
    encoded_.clear();
  };
  std::vector<IpcColumnBuffers> buffers(layout_.numColumns());
  for (;;) {
    arena_.reset();
    PartitionBatch next = nextBatch(maxRows, &arena_);
    if (next.batch.numRows == 0) break;
    for (uint32_t c = 0; c < layout_.numColumns(); ++c) {
      buffers[c] = ipcBuffersOf(layout_.columns()[c], next.batch.columns[c], next.batch.numRows);
    }
    const size_t before = encoded_.size();
    appendRecordBatchMessage(layout_.columns(), buffers, next.batch.numRows, compression, encoded_);
    written[next.partition] += encoded_.size() - before;
    if (encoded_.size() >= writeBufferBytes) flush();
  }
  flush();
  ByteVector().swap(encoded_);  // neither is kept between writes
  arena_.release();
  return written;
}

void ShuffleSorter::reset() {
  numRecords_ = 0;
  cursor_ = 0;
  sorted_ = nullptr;
  isSorted_ = false;
  dataPages_.clear();
  array_.reset();
  usable_ = 0;
}

}  // namespace tungsten
