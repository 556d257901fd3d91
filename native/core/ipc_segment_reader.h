// Reads a shuffle segment, an Arrow IPC stream in a byte range of a file (segments.ts: the
// schema message, record-batch messages, the end-of-stream marker), one record batch at a time,
// with pread: the reduce side's decoding off the event loop.
//
// Memory outside grants, bounded by the largest message: its metadata, its body when it is
// checksummed (read whole; a body is up to 65,536 rows of one partition for the segments
// tungsten writes; without a checksum each buffer is read straight into the output, a
// compressed one through a scratch of its size), and the batch decoded from it (the caller's
// once returned). Schema messages are skipped: the caller
// knows the schema and passes its column types; a message of other columns is kIpcCorrupt.
// The stream ends at the end-of-stream marker or at the end of the range.
//
// With an expected CRC-32 (IEEE), every byte of the range is checksummed as it is read (the
// schema message and anything after the marker included), and the end of the stream is a
// kIpcCorrupt error instead when they do not match: the range is read once, not once to verify
// and again to decode. Batches handed on before the end came from a segment not yet verified;
// the caller's task must fail if the end fails (a shuffle read: a fetch failure).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "arrow_output.h"
#include "byte_vector.h"
#include "column_types.h"

namespace tungsten {

class IpcSegmentReader {
 public:
  // Opens `path` for reading [offset, offset + length). Throws kIoError.
  IpcSegmentReader(std::string path, uint64_t offset, uint64_t length, std::vector<ColumnType> types,
                   std::optional<uint32_t> expectedCrc = std::nullopt);
  ~IpcSegmentReader();
  IpcSegmentReader(const IpcSegmentReader&) = delete;
  IpcSegmentReader& operator=(const IpcSegmentReader&) = delete;

  // The next record batch with rows; a batch of 0 rows once the stream has ended.
  OutputBatch next();
  const std::vector<ColumnType>& types() const { return types_; }

 private:
  // kIpcCorrupt unless `length` more bytes are left in the range: checked before a buffer is
  // sized from a length the file says.
  void checkRemaining(uint64_t length, const char* what) const;
  void read(uint8_t* into, uint64_t length, const char* what);
  // Reads and checksums `length` bytes nothing decodes (a schema message's body, bytes after
  // the end-of-stream marker).
  void skip(uint64_t length, const char* what);
  void verifyChecksum() const;

  std::string path_;
  int fd_ = -1;
  uint64_t position_;
  uint64_t end_;
  std::vector<ColumnType> types_;
  ByteVector metadata_;
  ByteVector body_;
  bool ended_ = false;
  std::optional<uint32_t> expectedCrc_;
  uint32_t crc_ = 0;
};

}  // namespace tungsten
