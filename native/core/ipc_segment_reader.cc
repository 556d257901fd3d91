#include "ipc_segment_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "arrow_ipc.h"
#include "errors.h"
#include "file_io.h"

namespace tungsten {

IpcSegmentReader::IpcSegmentReader(std::string path, uint64_t offset, uint64_t length, std::vector<ColumnType> types)
    : path_(std::move(path)), position_(offset), end_(offset + length), types_(std::move(types)) {
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
  position_ += length;
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
    position_ += prefix.prefixBytes;
    if (prefix.metadataBytes == 0) {
      ended_ = true;
      break;
    }
    checkRemaining(prefix.metadataBytes, "a message's metadata");
    metadata_.resize(prefix.metadataBytes);
    read(metadata_.data(), metadata_.size(), "a message's metadata");
    const IpcMessageHeader header = readMessageHeader(metadata_.data(), metadata_.size());
    checkRemaining(header.bodyBytes, "a message's body");
    if (header.kind == IpcMessageKind::kSchema) {
      position_ += header.bodyBytes;
      continue;
    }
    body_.resize(header.bodyBytes);
    read(body_.data(), body_.size(), "a message's body");
    OutputBatch batch = decodeRecordBatch(types_, metadata_.data(), metadata_.size(), body_.data(), body_.size());
    if (batch.numRows > 0) return batch;
  }
  ByteVector().swap(body_);
  ByteVector().swap(metadata_);
  return OutputBatch{};
}

}  // namespace tungsten
