// The bypass shuffle writer (Spark's BypassMergeSortShuffleWriter, spark-semantics §3.7): with
// no map-side combine and few reduce partitions, rows are not sorted at all. Each row goes
// straight into its partition's buffer, column by column, and a full buffer becomes one Arrow
// IPC record-batch message (arrow_ipc.h) appended to that partition's own file. At the end the
// partition files are concatenated into the map output's data file, each partition's bytes
// between the segment's schema message and the end-of-stream marker, with the segment's CRC-32
// kept as its bytes were written (so nothing is read back to checksum it).
//
// Who owns what: TypeScript grants the one buffer block (execution memory of the task) and
// opens every file; this class carves the block into equal partition regions and never
// allocates a page. flush() writes what is buffered and drops the block, for TypeScript to free
// (at the end, or when another consumer of the task needs the memory: a "spill").
//
// A partition's region, for a capacity of R rows (R from the region's size and the row width,
// at most maxRows), each part 8-aligned:
//   per column: validity bits (R bits) | values: R × width bytes, or R bits (booleans),
//               or for var-width columns (R + 1) offsets
//   then, when there are var-width columns, the rest split evenly into one value area each.
// Validity bits are written only from a partition's first null on (the rows before it are
// marked valid then); a message of a partition without nulls carries no validity buffer.
//
// write(batch), per chunk of up to 1024 rows:
//   1. Partition ids (partitioner.h; range partitioning compares rows in the row format, so the
//      chunk is first written as rows into a scratch buffer).
//   2. Placing: each row gets its position in its partition (and its var-width bytes' places),
//      until a row does not fit its partition: the rows placed so far are copied (step 3), the
//      full partition is flushed, and placing goes on.
//   3. Copying, one column at a time over the placed rows: values, validity, var bytes.
//   A row whose var-width bytes exceed even an empty region is written alone, as a one-row
//   message, through a scratch region of its own size (bounded by the row, not granted).
//
// Limits: a region holds at most maxRows rows; messages are at most a region's bytes (plus the
// encoding), so var-width offsets never exceed 2^31. Not thread-safe: TypeScript runs one
// operation at a time (on a worker thread).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "arrow_ipc.h"
#include "byte_vector.h"
#include "column_types.h"
#include "file_io.h"
#include "memory_block.h"
#include "partitioner.h"
#include "row_format.h"
#include "task_page_table.h"

namespace tungsten {

struct BypassWriterMetrics {
  uint64_t rowsWritten = 0;
  uint64_t messagesWritten = 0;
};

class BypassWriter {
 public:
  // `schemaMessage` is the bytes every segment starts with (its checksum starts with them).
  BypassWriter(std::vector<ColumnType> columns, PartitionerSpec partitioner, const BatchView* rangeBounds,
               std::shared_ptr<TaskPageTable> pages, uint64_t maxRows, IpcCompression compression,
               std::vector<uint8_t> schemaMessage);

  uint32_t numPartitions() const { return partitioner_.numPartitions(); }
  const std::vector<ColumnType>& columns() const { return columns_; }
  const BypassWriterMetrics& metrics() const { return metrics_; }

  // The partitions' files, one per partition, in order, each empty.
  void setFiles(std::vector<PartitionFile> files);
  // The smallest buffer block that gives every partition a region of at least one row.
  uint64_t minimumBufferBytes() const { return minimumBufferBytes_; }
  // The block that gives every partition a region of maxRows rows (var-width bytes as much
  // again as the fixed part): more is not used.
  uint64_t preferredBufferBytes() const { return preferredBufferBytes_; }
  // Hands over a granted block of at least minimumBufferBytes().
  void setBuffer(std::shared_ptr<MemoryBlock> block);
  bool hasBuffer() const { return block_ != nullptr; }
  // Rows buffered and not yet written.
  uint64_t bufferedRows() const;

  // Places every row of `batch` (needs the files and a buffer), writing full partitions.
  void write(const BatchView& batch);
  // Writes every buffered row, then drops the buffer block; returns the bytes written.
  uint64_t flush();
  // Bytes written to each partition's file so far.
  const std::vector<uint64_t>& written() const { return written_; }

  // Appends, at `fd`'s offset 0 on, every non-empty partition's segment: the schema message, its
  // file's bytes, the end-of-stream marker. Call after the last flush().
  struct Segments {
    std::vector<uint64_t> lengths;
    std::vector<uint32_t> checksums;  // CRC-32 (IEEE) of each segment; 0 when empty
  };
  Segments writeDataFile(int fd, const std::string& path);

 private:
  // Where a region's buffers are, as offsets from its start (the same for every partition).
  struct RegionLayout {
    uint64_t capacityRows = 0;
    std::vector<uint64_t> validity, values, offsets;  // per column
    std::vector<uint64_t> varArea;                    // per var column: offset of its area
    uint64_t varAreaBytes = 0;                        // each var column's area
    uint64_t bytes = 0;
  };
  struct Partition {
    uint8_t* region = nullptr;
    uint64_t rows = 0;
    std::vector<uint64_t> nullCount;  // per column
    std::vector<uint64_t> varBytes;   // per var column: bytes used in its area
  };

  // The fixed part (validity, values, offsets) of a region of `rows` rows; fills the offsets.
  uint64_t layoutFixed(uint64_t rows, RegionLayout& layout) const;
  // Lays out a region of `regionBytes` for as many rows as fit, at most maxRows (capacityRows 0
  // when not even one row fits).
  RegionLayout layoutRegion(uint64_t regionBytes) const;
  Partition makePartition(uint8_t* region, const RegionLayout& layout) const;
  void computePartitions(const BatchView& batch, uint64_t row, uint64_t count, uint32_t* out);
  // Copies the placed rows i in [begin, end) of the chunk starting at batch row `chunkStart`:
  // into targets[i], at row destRows[i], var column v's bytes at destVar[i * numVar + v].
  void copyRows(const BatchView& batch, uint64_t chunkStart, uint64_t begin, uint64_t end, Partition* const* targets,
                const RegionLayout& layout, const uint64_t* destRows, const uint64_t* destVar);
  void resetPartition(Partition& partition, const RegionLayout& layout);
  void encodeAndWrite(Partition& partition, const RegionLayout& layout, uint32_t p);
  void writeOversizedRow(const BatchView& batch, uint64_t row, uint32_t p);

  static constexpr uint64_t kChunkRows = 1024;

  RowLayout rows_;  // the partitioner's view of rows
  std::vector<ColumnType> columns_;
  std::vector<uint32_t> varColumns_;
  std::shared_ptr<TaskPageTable> pages_;
  Partitioner partitioner_;
  uint64_t maxRows_;
  IpcCompression compression_;
  std::vector<uint8_t> schemaMessage_;
  uint32_t schemaCrc_ = 0;

  uint64_t minimumBufferBytes_ = 0;
  uint64_t preferredBufferBytes_ = 0;

  std::vector<PartitionFile> files_;
  std::vector<uint64_t> written_;
  std::vector<uint32_t> crc_;
  std::shared_ptr<MemoryBlock> block_;
  RegionLayout layout_;
  std::vector<Partition> partitions_;

  ByteVector scratchRows_;  // range partitioning: a chunk's rows in the row format
  std::vector<uint8_t*> scratchRecords_;
  std::vector<uint64_t> destVar_;  // write(): each placed row's var-width places
  ByteVector encoded_;
  std::vector<IpcColumnBuffers> ipcColumns_;
  // Per column: partitions whose buffered rows include a null (validity bits are kept then).
  std::vector<uint64_t> partitionsWithNulls_;
  BypassWriterMetrics metrics_;
};

}  // namespace tungsten
