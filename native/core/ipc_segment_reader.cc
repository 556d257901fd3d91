#include "ipc_segment_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>

#include "arrow_ipc.h"
#include "crc32.h"
#include "errors.h"
#include "file_io.h"

namespace tungsten {

IpcSegmentReader::IpcSegmentReader(std::string path, uint64_t offset, uint64_t length, std::vector<ColumnType> types,
                                   std::optional<uint32_t> expectedCrc)
    : path_(std::move(path)), position_(offset), end_(offset + length), types_(std::move(types)), expectedCrc_(expectedCrc) {
  fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw Error(ErrorCode::kIoError, "cannot open " + path_ + ": " + std::strerror(errno));
}

IpcSegmentReader::~IpcSegmentReader() {
  if (fd_ >= 0) ::close(fd_);
}

void IpcSegmentReader::checkRemaining(uint64_t length, const char* what) const {
  if (end_ - position_ < length) {
    throw Error(ErrorCode::kIpcCorrupt, "the Arrow IPC stream in " + path_ + " ends inside " + what);
  }
}

void IpcSegmentReader::read(uint8_t* into, uint64_t length, const char* what) {
  checkRemaining(length, what);
  readFileFully(fd_, into, length, position_, path_, what);
  if (expectedCrc_) crc_ = crc32Ieee(crc_, into, length);
  position_ += length;
}

void IpcSegmentReader::skip(uint64_t length, const char* what) {
  checkRemaining(length, what);
  if (!expectedCrc_) {
    position_ += length;
    return;
  }
  uint8_t chunk[1 << 14];
  while (length > 0) {
    const uint64_t n = std::min<uint64_t>(length, sizeof chunk);
    read(chunk, n, what);
    length -= n;
  }
}

void IpcSegmentReader::verifyChecksum() const {
  if (expectedCrc_ && crc_ != *expectedCrc_) {
    throw Error(ErrorCode::kIpcCorrupt, "the shuffle segment in " + path_ + " does not match its checksum (corrupt)");
  }
}

OutputBatch IpcSegmentReader::next() {
  while (!ended_) {
    if (position_ == end_) {  // a stream may end without its marker
      ended_ = true;
      break;
    }
    // Up to 8 bytes are read ahead; the prefix may be 4 of them (a stream of Arrow < 0.15).
    uint8_t prefixBytes[8];
    const uint64_t available = std::min<uint64_t>(8, end_ - position_);
    readFileFully(fd_, prefixBytes, available, position_, path_, "a message's length");
    const IpcMessagePrefix prefix = readMessagePrefix(prefixBytes, available);
    if (expectedCrc_) crc_ = crc32Ieee(crc_, prefixBytes, prefix.prefixBytes);
    position_ += prefix.prefixBytes;
    if (prefix.metadataBytes == 0) {
      ended_ = true;
      skip(end_ - position_, "the bytes after the end-of-stream marker");
      break;
    }
    checkRemaining(prefix.metadataBytes, "a message's metadata");
    metadata_.resize(prefix.metadataBytes);
    read(metadata_.data(), metadata_.size(), "a message's metadata");
    const IpcMessageHeader header = readMessageHeader(metadata_.data(), metadata_.size());
    checkRemaining(header.bodyBytes, "a message's body");
    if (header.kind == IpcMessageKind::kSchema) {
      skip(header.bodyBytes, "a schema message's body");
      continue;
    }
    OutputBatch batch;
    if (expectedCrc_) {
      // Checksummed in order, gaps between buffers included: the body is read whole.
      body_.resize(header.bodyBytes);
      read(body_.data(), body_.size(), "a message's body");
      batch = decodeRecordBatch(types_, metadata_.data(), metadata_.size(), body_.data(), body_.size());
    } else {
      const uint64_t bodyStart = position_;
      IpcBody body{header.bodyBytes, nullptr, [&](uint64_t offset, uint64_t length, uint8_t* into) {
                     readFileFully(fd_, into, length, bodyStart + offset, path_, "a message's body");
                   }};
      batch = decodeRecordBatch(types_, metadata_.data(), metadata_.size(), body);
      position_ += header.bodyBytes;
    }
    if (batch.numRows > 0) return batch;
  }
  ByteVector().swap(body_);
  ByteVector().swap(metadata_);
  verifyChecksum();
  return OutputBatch{};
}

}  // namespace tungsten
