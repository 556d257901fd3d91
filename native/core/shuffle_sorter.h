// The map side of the sort-based shuffle: rows in pages, one packed pointer per row, sorted by
// reduce partition (Spark's ShuffleExternalSorter and ShuffleInMemorySorter, spark-semantics
// §3.5-3.6), in native memory that TypeScript grants.
//
// Who owns what: TypeScript acquires every data page (at most 128 MiB: the packed pointer's
// 27-bit offset) and the pointer array through the task's TaskMemoryManager and hands them over;
// this class never allocates a page. reset() drops its references and TypeScript frees them.
//
// The pointer array is one granted block of u64 packed pointers (packed_record_pointer.h). Half
// of it holds pointers, the other half is the radix sort's scratch (Spark's usable capacity
// with radix: size / 2).
//
// Life of a map task's output:
//   1. insert(batch, row) writes rows into the current page, computes each row's partition
//      (partitioner.h) and appends its packed pointer, until the batch is done or the page or
//      the array is full; then it says what it needs and TypeScript grants it (spilling if it
//      must) and calls insert again from where it stopped.
//   2. sort() radix-sorts the pointers on bytes 5..7 (the partition id) only, LSD, skipping
//      bytes that are equal in every pointer: one pass for up to 256 partitions.
//   3. writeSorted(file, n) writes the rows as IPC messages of up to n rows, partition after
//      partition, into a spill file (nextBatch returns the same batches one at a time, for tests
//      and other callers).
//   4. reset() forgets the rows and drops every page and the array, for TypeScript to free.
//
// Not thread-safe: TypeScript runs one operation at a time (on a worker thread).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "arrow_ipc.h"
#include "arrow_output.h"
#include "data_pages.h"
#include "file_io.h"
#include "packed_record_pointer.h"
#include "partitioner.h"
#include "row_format.h"
#include "task_page_table.h"

namespace tungsten {

struct ShuffleSorterMetrics {
  uint64_t rowsInserted = 0;
  uint64_t sortTimeNs = 0;
};

class ShuffleSorter {
 public:
  ShuffleSorter(std::vector<ColumnType> columns, PartitionerSpec partitioner, const BatchView* rangeBounds,
                std::shared_ptr<TaskPageTable> pages);

  const RowLayout& layout() const { return layout_; }
  const ShuffleSorterMetrics& metrics() const { return metrics_; }
  uint32_t numPartitions() const { return partitioner_.numPartitions(); }

  void addDataPage(std::shared_ptr<MemoryBlock> page);
  void replacePointerArray(std::shared_ptr<MemoryBlock> array);
  uint64_t numRecords() const { return numRecords_; }
  uint64_t numDataPages() const { return dataPages_.count(); }
  uint64_t pointerArrayBytes() const { return array_ ? array_->size : 0; }

  struct InsertResult {
    uint64_t nextRow;
    uint64_t needRecordBytes;
    bool needArray;
  };
  InsertResult insert(const BatchView& batch, uint64_t startRow);

  void sort();
  struct PartitionBatch {
    uint32_t partition = 0;
    OutputBatch batch;  // 0 rows: every sorted row has been returned
  };
  // With an arena, the batch's buffers are its views (valid until it is reset).
  PartitionBatch nextBatch(uint64_t maxRows, OutputArena* arena = nullptr);

  // Sorts if not yet sorted, then writes every row as Arrow IPC record-batch messages
  // (arrow_ipc.h) of at most maxRows rows, partition after partition, into `file` from its
  // offset on. Messages gather in a buffer of writeBufferBytes (Spark's shuffle.file.buffer),
  // written when full and at the end. Returns the bytes written per partition. Bounded memory
  // outside the pages: one output batch of maxRows rows, its encoded message and the buffer.
  std::vector<uint64_t> writeSorted(const PartitionFile& file, uint64_t maxRows, IpcCompression compression,
                                    uint64_t writeBufferBytes);

  void reset();

 private:
  uint64_t* pointers() const { return reinterpret_cast<uint64_t*>(array_->data); }

  RowLayout layout_;
  std::shared_ptr<TaskPageTable> pages_;
  Partitioner partitioner_;
  DataPages dataPages_;
  std::shared_ptr<MemoryBlock> array_;
  uint64_t usable_ = 0;
  uint64_t numRecords_ = 0;
  // Where the sorted pointers are (the array's first or second half) and the read position.
  const uint64_t* sorted_ = nullptr;
  uint64_t cursor_ = 0;
  bool isSorted_ = false;
  std::vector<const uint8_t*> batchRecords_;
  ByteVector encoded_;
  OutputArena arena_;
  ShuffleSorterMetrics metrics_;
};

// LSD radix sort of packed pointers on bytes [kPartitionIdStartByte, kPartitionIdEndByte],
// ping-ponging between data and scratch (each n entries); returns where the result is.
// Bytes equal in every entry are skipped. Stable, as each LSD pass is.
uint64_t* radixSortByPartition(uint64_t* data, uint64_t* scratch, uint64_t n);

}  // namespace tungsten
