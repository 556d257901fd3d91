// Reads a shuffle segment, an Arrow IPC stream in a byte range of a file (segments.ts: the
// schema message, record-batch messages, the end-of-stream marker), one record batch at a time,
// with pread: the reduce side's decoding off the event loop.
//
// Memory outside grants, bounded by the largest message: its metadata and body, read whole
// (a body is up to 65,536 rows of one partition for the segments tungsten writes), and the
// batch decoded from it (the caller's once returned). Schema messages are skipped: the caller
// knows the schema and passes its column types; a message of other columns is kIpcCorrupt.
// The stream ends at the end-of-stream marker or at the end of the range.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "arrow_output.h"
#include "byte_vector.h"
#include "column_types.h"

namespace tungsten {

class IpcSegmentReader {
 public:
  // Opens `path` for reading [offset, offset + length). Throws kIoError.
  IpcSegmentReader(std::string path, uint64_t offset, uint64_t length, std::vector<ColumnType> types);
  ~IpcSegmentReader();
  IpcSegmentReader(const IpcSegmentReader&) = delete;
  IpcSegmentReader& operator=(const IpcSegmentReader&) = delete;

  // The next record batch with rows; a batch of 0 rows once the stream has ended.
  OutputBatch next();

 private:
  // kIpcCorrupt unless `length` more bytes are left in the range: checked before a buffer is
  // sized from a length the file says.
  void checkRemaining(uint64_t length, const char* what) const;
  void read(uint8_t* into, uint64_t length, const char* what);

  std::string path_;
  int fd_ = -1;
  uint64_t position_;
  uint64_t end_;
  std::vector<ColumnType> types_;
  ByteVector metadata_;
  ByteVector body_;
  bool ended_ = false;
};

}  // namespace tungsten
