#include "bypass_writer.h"

#include <algorithm>
#include <cstring>

#include "crc32.h"
#include "errors.h"
#include "page_allocator.h"

namespace tungsten {

namespace {

constexpr uint64_t kRegionAlignment = 64;
constexpr uint8_t kEndOfStream[8] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0};

inline void setBit(uint8_t* bits, uint64_t i, bool value) {
  const uint8_t mask = static_cast<uint8_t>(1u << (i & 7));
  bits[i >> 3] = value ? static_cast<uint8_t>(bits[i >> 3] | mask) : static_cast<uint8_t>(bits[i >> 3] & ~mask);
}

inline bool bitAt(const uint8_t* bits, uint64_t i) { return ((bits[i >> 3] >> (i & 7)) & 1) != 0; }

// Bits past the last row are left as earlier rows wrote them; a message's are zero.
inline void clearTrailingBits(uint8_t* bits, uint64_t rows) {
  if (rows % 8 != 0) bits[rows >> 3] &= static_cast<uint8_t>((1u << (rows % 8)) - 1);
}

template <uint32_t kWidth>
void copyFixed(const uint8_t* from, uint64_t chunkStart, uint64_t begin, uint64_t end, uint8_t* const* bases,
               const uint64_t* destRows) {
  for (uint64_t i = begin; i < end; ++i) std::memcpy(bases[i] + destRows[i] * kWidth, from + (chunkStart + i) * kWidth, kWidth);
}

}  // namespace

BypassWriter::BypassWriter(std::vector<ColumnType> columns, PartitionerSpec partitioner, const BatchView* rangeBounds,
                           std::shared_ptr<TaskPageTable> pages, uint64_t maxRows, IpcCompression compression,
                           std::vector<uint8_t> schemaMessage)
    : rows_(columns),
      columns_(std::move(columns)),
      pages_(std::move(pages)),
      partitioner_(rows_, std::move(partitioner), rangeBounds),
      maxRows_(maxRows),
      compression_(compression),
      schemaMessage_(std::move(schemaMessage)),
      partitionsWithNulls_(columns_.size(), 0) {
  if (maxRows_ == 0) throw Error(ErrorCode::kInvalidArgument, "a message holds at least one row");
  for (uint32_t c = 0; c < columns_.size(); ++c) {
    if (columns_[c].physical == PhysicalType::kVarBinary) varColumns_.push_back(c);
  }
  schemaCrc_ = crc32Ieee(0, schemaMessage_.data(), schemaMessage_.size());
  written_.assign(numPartitions(), 0);
  crc_.assign(numPartitions(), schemaCrc_);
  ipcColumns_.resize(columns_.size());
  if (partitioner_.needsRecords()) scratchRecords_.resize(kChunkRows);
  destVar_.resize(kChunkRows * varColumns_.size());
  uint64_t region = kRegionAlignment;
  while (layoutRegion(region).capacityRows == 0) region += kRegionAlignment;
  minimumBufferBytes_ = region * numPartitions();
  RegionLayout full;
  const uint64_t fullBytes = layoutFixed(maxRows_, full) * (varColumns_.empty() ? 1 : 2);
  preferredBufferBytes_ = (fullBytes + kRegionAlignment - 1) / kRegionAlignment * kRegionAlignment * numPartitions();
}

void BypassWriter::setFiles(std::vector<PartitionFile> files) {
  if (files.size() != numPartitions()) {
    throw Error(ErrorCode::kInvalidArgument, "the bypass writer takes one file per partition (" +
                                                 std::to_string(numPartitions()) + "), not " + std::to_string(files.size()));
  }
  if (!files_.empty()) throw Error(ErrorCode::kInvalidArgument, "the bypass writer's files are set already");
  files_ = std::move(files);
}

uint64_t BypassWriter::layoutFixed(uint64_t rows, RegionLayout& layout) const {
  const size_t n = columns_.size();
  layout.validity.assign(n, 0);
  layout.values.assign(n, 0);
  layout.offsets.assign(n, 0);
  uint64_t at = 0;
  for (size_t c = 0; c < n; ++c) {
    const ColumnType& type = columns_[c];
    layout.validity[c] = at;
    at += padTo8((rows + 7) / 8);
    if (type.physical == PhysicalType::kBool) {
      layout.values[c] = at;
      at += padTo8((rows + 7) / 8);
    } else if (type.physical == PhysicalType::kVarBinary) {
      layout.offsets[c] = at;
      at += padTo8((rows + 1) * type.width);
    } else {
      layout.values[c] = at;
      at += padTo8(rows * slotBytes(type));
    }
  }
  return at;
}

BypassWriter::RegionLayout BypassWriter::layoutRegion(uint64_t regionBytes) const {
  RegionLayout layout;
  // With var-width columns, half the region is for the fixed part and half for their bytes.
  const uint64_t fixedShare = varColumns_.empty() ? regionBytes : regionBytes / 2;
  uint64_t bitsPerRow = 0;
  for (const ColumnType& type : columns_) {
    bitsPerRow += 1;  // validity
    if (type.physical == PhysicalType::kBool) {
      bitsPerRow += 1;
    } else if (type.physical == PhysicalType::kVarBinary) {
      bitsPerRow += 8 * uint64_t{type.width};
    } else {
      bitsPerRow += 8 * uint64_t{slotBytes(type)};
    }
  }
  // Alignment padding costs at most 7 bytes per buffer (and an offsets column one more entry).
  const uint64_t padding = columns_.size() * 2 * 8 + varColumns_.size() * 8;
  uint64_t rows = fixedShare > padding ? (fixedShare - padding) * 8 / std::max<uint64_t>(bitsPerRow, 1) : 0;
  rows = std::min(rows, maxRows_);
  while (rows > 0 && layoutFixed(rows, layout) > fixedShare) --rows;
  if (rows == 0) return layout;
  const uint64_t fixedBytes = layoutFixed(rows, layout);
  layout.capacityRows = rows;
  layout.varArea.clear();
  if (!varColumns_.empty()) {
    layout.varAreaBytes = ((regionBytes - fixedBytes) / varColumns_.size()) & ~uint64_t{7};
    for (size_t v = 0; v < varColumns_.size(); ++v) layout.varArea.push_back(fixedBytes + v * layout.varAreaBytes);
  }
  layout.bytes = regionBytes;
  return layout;
}

BypassWriter::Partition BypassWriter::makePartition(uint8_t* region, const RegionLayout& layout) const {
  Partition partition;
  partition.region = region;
  partition.nullCount.assign(columns_.size(), 0);
  partition.varBytes.assign(varColumns_.size(), 0);
  for (uint32_t c : varColumns_) std::memset(region + layout.offsets[c], 0, columns_[c].width);
  return partition;
}

void BypassWriter::setBuffer(std::shared_ptr<MemoryBlock> block) {
  if (block_) throw Error(ErrorCode::kInvalidArgument, "the bypass writer has a buffer already; flush() first");
  pages_->checkOwnPage(*block);
  const uint64_t regionBytes = block->size / numPartitions() / kRegionAlignment * kRegionAlignment;
  RegionLayout layout = layoutRegion(regionBytes);
  if (layout.capacityRows == 0) {
    throw Error(ErrorCode::kInvalidArgument, "a bypass writer buffer of " + std::to_string(block->size) +
                                                 " bytes is too small; it needs " + std::to_string(minimumBufferBytes_));
  }
  // Each region is written from its start, column by column: a task's few rows touch a little
  // of every column of every region, which huge pages would zero whole.
  PageAllocator::preferSmallPages(*block);
  layout_ = std::move(layout);
  partitions_.clear();
  for (uint32_t p = 0; p < numPartitions(); ++p) partitions_.push_back(makePartition(block->data + p * regionBytes, layout_));
  block_ = std::move(block);
}

uint64_t BypassWriter::bufferedRows() const {
  uint64_t rows = 0;
  for (const Partition& partition : partitions_) rows += partition.rows;
  return rows;
}

void BypassWriter::computePartitions(const BatchView& batch, uint64_t row, uint64_t count, uint32_t* out) {
  uint8_t** records = scratchRecords_.data();
  if (partitioner_.needsRecords()) {
    // Range bounds compare rows in the row format: the chunk is written as rows first.
    uint64_t bytes = 0;
    uint64_t sizes[kChunkRows];
    for (uint64_t i = 0; i < count; ++i) {
      sizes[i] = kRecordLengthBytes + (rows_.hasVarColumns() ? rows_.payloadBytes(batch, row + i) : rows_.fixedPayloadBytes());
      bytes += sizes[i];
    }
    if (scratchRows_.size() < bytes) scratchRows_.resize(bytes);
    uint64_t at = 0;
    for (uint64_t i = 0; i < count; ++i) {
      records[i] = scratchRows_.data() + at;
      at += sizes[i];
    }
    rows_.writeRows(batch, row, count, records);
  }
  partitioner_.partitionsOf(batch, row, count, records, out);
}

void BypassWriter::write(const BatchView& batch) {
  if (batch.columns.size() != columns_.size()) {
    throw Error(ErrorCode::kInvalidArgument, "the batch has " + std::to_string(batch.columns.size()) +
                                                 " columns, the bypass writer " + std::to_string(columns_.size()));
  }
  if (files_.empty()) throw Error(ErrorCode::kInvalidArgument, "the bypass writer has no files; setFiles() first");
  if (!block_) throw Error(ErrorCode::kInvalidArgument, "the bypass writer has no buffer; setBuffer() first");
  pages_->checkOwnPage(*block_);
  const size_t numVar = varColumns_.size();
  uint32_t parts[kChunkRows];
  Partition* targets[kChunkRows];
  uint64_t destRows[kChunkRows];
  uint64_t* destVar = destVar_.data();
  for (uint64_t row = 0; row < batch.numRows;) {
    const uint64_t count = std::min(kChunkRows, batch.numRows - row);
    computePartitions(batch, row, count, parts);
    uint64_t copiedTo = 0;
    for (uint64_t i = 0; i < count;) {
      Partition& partition = partitions_[parts[i]];
      bool fits = partition.rows < layout_.capacityRows;
      for (size_t v = 0; v < numVar && fits; ++v) {
        const ColumnView& column = batch.columns[varColumns_[v]];
        const uint64_t length = varOffset(column, row + i + 1) - varOffset(column, row + i);
        fits = partition.varBytes[v] + length <= layout_.varAreaBytes;
      }
      if (fits) {
        targets[i] = &partition;
        destRows[i] = partition.rows++;
        for (size_t v = 0; v < numVar; ++v) {
          const ColumnView& column = batch.columns[varColumns_[v]];
          destVar[i * numVar + v] = partition.varBytes[v];
          partition.varBytes[v] += varOffset(column, row + i + 1) - varOffset(column, row + i);
        }
        ++i;
        continue;
      }
      // The rows placed so far go to their regions before any region is written out.
      copyRows(batch, row, copiedTo, i, targets, layout_, destRows, destVar);
      copiedTo = i;
      if (partition.rows > 0) {
        encodeAndWrite(partition, layout_, parts[i]);  // then row i is placed again
      } else {
        writeOversizedRow(batch, row + i, parts[i]);
        copiedTo = ++i;
      }
    }
    copyRows(batch, row, copiedTo, count, targets, layout_, destRows, destVar);
    row += count;
  }
  metrics_.rowsWritten += batch.numRows;
}

void BypassWriter::copyRows(const BatchView& batch, uint64_t chunkStart, uint64_t begin, uint64_t end,
                            Partition* const* targets, const RegionLayout& layout, const uint64_t* destRows,
                            const uint64_t* destVar) {
  if (begin >= end) return;
  uint8_t* bases[kChunkRows];
  size_t v = 0;
  for (uint32_t c = 0; c < columns_.size(); ++c) {
    const ColumnView& column = batch.columns[c];
    const ColumnType& type = columns_[c];
    // Validity: nothing to write while neither the input nor any target has a null.
    if (column.validity != nullptr || partitionsWithNulls_[c] > 0) {
      for (uint64_t i = begin; i < end; ++i) {
        Partition& target = *targets[i];
        uint8_t* bits = target.region + layout.validity[c];
        if (column.isNull(chunkStart + i)) {
          if (target.nullCount[c]++ == 0) {
            // The target's first null: the rows before it were all valid.
            ++partitionsWithNulls_[c];
            const uint64_t before = destRows[i];
            std::memset(bits, 0xff, before / 8);
            for (uint64_t r = before / 8 * 8; r < before; ++r) setBit(bits, r, true);
          }
          setBit(bits, destRows[i], false);
        } else if (target.nullCount[c] > 0) {
          setBit(bits, destRows[i], true);
        }
      }
    }
    if (type.physical == PhysicalType::kBool) {
      for (uint64_t i = begin; i < end; ++i) {
        setBit(targets[i]->region + layout.values[c], destRows[i], bitAt(column.values, column.valuesBitOffset + chunkStart + i));
      }
    } else if (type.physical == PhysicalType::kVarBinary) {
      const uint64_t area = layout.varArea[v];
      const size_t numVar = varColumns_.size();
      for (uint64_t i = begin; i < end; ++i) {
        uint8_t* region = targets[i]->region;
        const uint64_t from = varOffset(column, chunkStart + i);
        const uint64_t length = varOffset(column, chunkStart + i + 1) - from;
        const uint64_t at = destVar[i * numVar + v];
        std::memcpy(region + area + at, column.values + from, length);
        const uint64_t valueEnd = at + length;
        uint8_t* offsets = region + layout.offsets[c];
        if (type.width == 4) {
          const int32_t o = static_cast<int32_t>(valueEnd);
          std::memcpy(offsets + (destRows[i] + 1) * 4, &o, 4);
        } else {
          const int64_t o = static_cast<int64_t>(valueEnd);
          std::memcpy(offsets + (destRows[i] + 1) * 8, &o, 8);
        }
      }
      ++v;
    } else {
      for (uint64_t i = begin; i < end; ++i) bases[i] = targets[i]->region + layout.values[c];
      const uint32_t width = slotBytes(type);
      switch (width) {
        case 1: copyFixed<1>(column.values, chunkStart, begin, end, bases, destRows); break;
        case 2: copyFixed<2>(column.values, chunkStart, begin, end, bases, destRows); break;
        case 4: copyFixed<4>(column.values, chunkStart, begin, end, bases, destRows); break;
        case 8: copyFixed<8>(column.values, chunkStart, begin, end, bases, destRows); break;
        case 16: copyFixed<16>(column.values, chunkStart, begin, end, bases, destRows); break;
        default:
          for (uint64_t i = begin; i < end; ++i) {
            std::memcpy(bases[i] + destRows[i] * width, column.values + (chunkStart + i) * width, width);
          }
      }
    }
  }
}

void BypassWriter::resetPartition(Partition& partition, const RegionLayout& layout) {
  partition.rows = 0;
  for (uint32_t c = 0; c < columns_.size(); ++c) {
    if (partition.nullCount[c] > 0) --partitionsWithNulls_[c];
    partition.nullCount[c] = 0;
  }
  std::fill(partition.varBytes.begin(), partition.varBytes.end(), 0);
  for (uint32_t c : varColumns_) std::memset(partition.region + layout.offsets[c], 0, columns_[c].width);
}

void BypassWriter::encodeAndWrite(Partition& partition, const RegionLayout& layout, uint32_t p) {
  const uint64_t n = partition.rows;
  if (n == 0) return;
  size_t v = 0;
  for (uint32_t c = 0; c < columns_.size(); ++c) {
    const ColumnType& type = columns_[c];
    IpcColumnBuffers& buffers = ipcColumns_[c];
    buffers = IpcColumnBuffers{};
    buffers.nullCount = partition.nullCount[c];
    if (buffers.nullCount > 0) {
      uint8_t* bits = partition.region + layout.validity[c];
      clearTrailingBits(bits, n);
      buffers.validity = bits;
      buffers.validityBytes = (n + 7) / 8;
    }
    if (type.physical == PhysicalType::kBool) {
      uint8_t* bits = partition.region + layout.values[c];
      clearTrailingBits(bits, n);
      buffers.values = bits;
      buffers.valuesBytes = (n + 7) / 8;
    } else if (type.physical == PhysicalType::kVarBinary) {
      buffers.offsets = partition.region + layout.offsets[c];
      buffers.offsetsBytes = (n + 1) * type.width;
      buffers.values = partition.region + layout.varArea[v];
      buffers.valuesBytes = partition.varBytes[v];
      ++v;
    } else {
      buffers.values = partition.region + layout.values[c];
      buffers.valuesBytes = n * slotBytes(type);
    }
  }
  encoded_.clear();
  appendRecordBatchMessage(columns_, ipcColumns_, n, compression_, encoded_);
  const PartitionFile& file = files_[p];
  writeFileFully(file.fd, encoded_.data(), encoded_.size(), static_cast<int64_t>(file.offset + written_[p]), file.path,
                 "shuffle device");
  crc_[p] = crc32Ieee(crc_[p], encoded_.data(), encoded_.size());
  written_[p] += encoded_.size();
  ++metrics_.messagesWritten;
  resetPartition(partition, layout);
}

void BypassWriter::writeOversizedRow(const BatchView& batch, uint64_t row, uint32_t p) {
  // A region of its own: one row, each var column's area as large as the largest value.
  RegionLayout layout;
  const uint64_t fixedBytes = layoutFixed(1, layout);
  uint64_t largest = 0;
  std::vector<uint64_t> destVar(varColumns_.size(), 0);
  for (uint32_t c : varColumns_) {
    const ColumnView& column = batch.columns[c];
    largest = std::max(largest, varOffset(column, row + 1) - varOffset(column, row));
  }
  layout.capacityRows = 1;
  layout.varAreaBytes = padTo8(largest);
  for (size_t v = 0; v < varColumns_.size(); ++v) layout.varArea.push_back(fixedBytes + v * layout.varAreaBytes);
  layout.bytes = fixedBytes + varColumns_.size() * layout.varAreaBytes;
  ByteVector region(layout.bytes);
  Partition partition = makePartition(region.data(), layout);
  Partition* target = &partition;
  const uint64_t destRow = 0;
  copyRows(batch, row, 0, 1, &target, layout, &destRow, destVar.data());
  partition.rows = 1;
  for (size_t v = 0; v < varColumns_.size(); ++v) {
    const ColumnView& column = batch.columns[varColumns_[v]];
    partition.varBytes[v] = varOffset(column, row + 1) - varOffset(column, row);
  }
  encodeAndWrite(partition, layout, p);
}

uint64_t BypassWriter::flush() {
  uint64_t before = 0;
  for (uint64_t bytes : written_) before += bytes;
  if (!files_.empty()) {
    for (uint32_t p = 0; p < partitions_.size(); ++p) encodeAndWrite(partitions_[p], layout_, p);
  } else if (bufferedRows() > 0) {
    throw Error(ErrorCode::kInvalidArgument, "the bypass writer has rows but no files");
  }
  partitions_.clear();
  block_.reset();
  uint64_t after = 0;
  for (uint64_t bytes : written_) after += bytes;
  return after - before;
}

BypassWriter::Segments BypassWriter::writeDataFile(int fd, const std::string& path) {
  if (bufferedRows() > 0) throw Error(ErrorCode::kInvalidArgument, "flush() the bypass writer before writing its data file");
  Segments segments;
  segments.lengths.assign(numPartitions(), 0);
  segments.checksums.assign(numPartitions(), 0);
  uint64_t at = 0;
  for (uint32_t p = 0; p < numPartitions(); ++p) {
    if (written_[p] == 0) continue;
    const PartitionFile& file = files_[p];
    const uint64_t start = at;
    writeFileFully(fd, schemaMessage_.data(), schemaMessage_.size(), static_cast<int64_t>(at), path, "shuffle device");
    at += schemaMessage_.size();
    copyFileBytes(file.fd, file.offset, file.path, fd, at, path, written_[p], "shuffle device");
    at += written_[p];
    writeFileFully(fd, kEndOfStream, sizeof kEndOfStream, static_cast<int64_t>(at), path, "shuffle device");
    at += sizeof kEndOfStream;
    segments.lengths[p] = at - start;
    segments.checksums[p] = crc32Ieee(crc_[p], kEndOfStream, sizeof kEndOfStream);
  }
  return segments;
}

}  // namespace tungsten
