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
    : path_(std::move(path)), start_(offset), position_(offset), end_(offset + length), types_(std::move(types)) {
  fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw Error(ErrorCode::kIoError, "cannot open " + path_ + ": " + std::strerror(errno));
}

IpcSegmentReader::~IpcSegmentReader() {
  if (fd_ >= 0) ::close(fd_);
}

void IpcSegmentReader::read(uint8_t* into, uint64_t length, const char* what) {
  if (end_ - position_ < length) {
    throw Error(ErrorCode::kIpcCorrupt, "the Arrow IPC stream in " + path_ + " ends inside " + what);
  }
  readFileFully(fd_, into, length, position_, path_, what);
  position_ += length;
}

OutputBatch IpcSegmentReader::next() {
  while (!ended_) {
    if (position_ == end_) {  // a stream may end without its marker
      ended_ = true;
      break;
    }
    uint8_t prefixBytes[8];
    const uint64_t available = std::min<uint64_t>(8, end_ - position_);
    read(prefixBytes, std::min<uint64_t>(4, available), "a message's length");
    IpcMessagePrefix prefix;
    if (available >= 8 && std::memcmp(prefixBytes, "\xff\xff\xff\xff", 4) == 0) {
      read(prefixBytes + 4, 4, "a message's length");
      prefix = readMessagePrefix(prefixBytes, 8);
    } else {
      prefix = readMessagePrefix(prefixBytes, 4);
    }
    if (prefix.metadataBytes == 0) {
      ended_ = true;
      break;
    }
    if (prefix.metadataBytes > end_ - position_) {
      throw Error(ErrorCode::kIpcCorrupt, "the Arrow IPC stream in " + path_ + " ends inside a message's metadata");
    }
    metadata_.resize(prefix.metadataBytes);
    read(metadata_.data(), metadata_.size(), "a message's metadata");
    const IpcMessageHeader header = readMessageHeader(metadata_.data(), metadata_.size());
    if (header.bodyBytes > end_ - position_) {
      throw Error(ErrorCode::kIpcCorrupt, "the Arrow IPC stream in " + path_ + " ends inside a message's body");
    }
    if (header.kind == IpcMessageKind::kSchema) {
      position_ += header.bodyBytes;
      continue;
    }
    body_.resize(header.bodyBytes);
    read(body_.data(), body_.size(), "a message's body");
    OutputBatch batch = decodeRecordBatch(types_, metadata_.data(), metadata_.size(), body_.data(), body_.size());
    if (batch.numRows > 0) return batch;
  }
  std::vector<uint8_t>().swap(body_);
  std::vector<uint8_t>().swap(metadata_);
  return OutputBatch{};
}

}  // namespace tungsten
