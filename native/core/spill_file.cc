#include "spill_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "crc32.h"
#include "errors.h"
#include "file_io.h"
#include "lz4_block.h"
#include "row_format.h"

namespace tungsten {

namespace {

constexpr uint8_t kFileMagic[8] = {'T', 'S', 'P', 'I', 'L', 'L', 0x00, 0x01};
constexpr uint32_t kFileHeaderBytes = 16;
constexpr uint32_t kBlockMagic = 0x4B4C4254;  // "TBLK"
constexpr uint32_t kBlockHeaderBytes = 24;
constexpr uint32_t kFooterMagic = 0x444E4554;  // "TEND"
constexpr uint32_t kFooterBytes = 32;
constexpr uint32_t kPrefixBytes = 8;

void put32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }
void put64(uint8_t* p, uint64_t v) { std::memcpy(p, &v, 8); }
uint32_t get32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
uint64_t get64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

std::string describeErrno(int error) { return std::strerror(error); }

}  // namespace

void removeSpillFile(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    throw Error(ErrorCode::kIoError, "cannot remove spill file " + path + ": " + describeErrno(errno));
  }
}

SpillWriter::SpillWriter(std::string path, SpillCodec codec, uint32_t blockTargetBytes)
    : blockTarget_(blockTargetBytes) {
  info_.path = std::move(path);
  info_.codec = codec;
  fd_ = ::open(info_.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    const int error = errno;
    throw Error(error == ENOSPC ? ErrorCode::kDiskFull : ErrorCode::kIoError,
                "cannot create spill file " + info_.path + ": " + describeErrno(error) +
                    "; check that the local directory exists and is writable");
  }
  blockCapacity_ = blockTarget_;
  block_ = std::make_unique<uint8_t[]>(blockCapacity_);
  uint8_t header[kFileHeaderBytes] = {};
  std::memcpy(header, kFileMagic, 8);
  put32(header + 8, static_cast<uint32_t>(codec));
  try {
    writeAll(header, sizeof header);
  } catch (...) {
    ::close(fd_);
    ::unlink(info_.path.c_str());
    fd_ = -1;
    throw;
  }
}

SpillWriter::~SpillWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!finished_) ::unlink(info_.path.c_str());
}

void SpillWriter::writeAll(const uint8_t* data, size_t length) {
  writeFileFully(fd_, data, length, -1, info_.path, "spill device");
  info_.fileBytes += length;
}

void SpillWriter::makeRoom(size_t entryBytes) {
  if (blockUsed_ > 0) flushBlock();
  if (entryBytes > UINT32_MAX) {
    throw Error(ErrorCode::kRecordTooLarge,
                "a record of " + std::to_string(entryBytes) + " bytes cannot be written to a spill block");
  }
  if (entryBytes > blockCapacity_) {
    // A record larger than a block gets a block of its own.
    block_ = std::make_unique<uint8_t[]>(entryBytes);
    blockCapacity_ = entryBytes;
  }
}

void SpillWriter::flushBlock() {
  if (blockRecords_ == 0) return;
  const uint32_t rawBytes = static_cast<uint32_t>(blockUsed_);
  const uint8_t* body = block_.get();
  uint32_t storedBytes = rawBytes;
  if (info_.codec == SpillCodec::kLz4) {
    compressed_.resize(lz4CompressBound(rawBytes));
    storedBytes = static_cast<uint32_t>(lz4Compress(block_.get(), rawBytes, compressed_.data()));
    body = compressed_.data();
  }
  uint8_t header[kBlockHeaderBytes];
  put32(header, kBlockMagic);
  put32(header + 4, static_cast<uint32_t>(info_.codec));
  put32(header + 8, rawBytes);
  put32(header + 12, storedBytes);
  put32(header + 16, blockRecords_);
  put32(header + 20, crc32c(crc32c(0, header, 20), body, storedBytes));
  writeAll(header, sizeof header);
  writeAll(body, storedBytes);
  info_.rawBytes += rawBytes;
  info_.maxBlockBytes = std::max(info_.maxBlockBytes, rawBytes);
  ++info_.blocks;
  blockRecords_ = 0;
  blockUsed_ = 0;
  if (blockCapacity_ > blockTarget_) {
    block_ = std::make_unique<uint8_t[]>(blockTarget_);
    blockCapacity_ = blockTarget_;
  }
}

SpillRunInfo SpillWriter::finish() {
  flushBlock();
  uint8_t footer[kFooterBytes] = {};
  put32(footer, kFooterMagic);
  put64(footer + 8, info_.records);
  put64(footer + 16, info_.blocks);
  put32(footer + 24, info_.maxBlockBytes);
  put32(footer + 28, crc32c(0, footer, 28));
  writeAll(footer, sizeof footer);
  if (::close(fd_) != 0) {
    const int error = errno;
    fd_ = -1;
    throw Error(error == ENOSPC ? ErrorCode::kDiskFull : ErrorCode::kIoError,
                "cannot close spill file " + info_.path + ": " + describeErrno(error));
  }
  fd_ = -1;
  finished_ = true;
  // The buffers are not needed once the run is on disk.
  block_.reset();
  blockCapacity_ = 0;
  std::vector<uint8_t>().swap(compressed_);
  return info_;
}

SpillReader::SpillReader(const SpillRunInfo& info) : info_(info) {
  fd_ = ::open(info_.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) {
    throw Error(ErrorCode::kIoError, "cannot open spill file " + info_.path + ": " + describeErrno(errno));
  }
  try {
    uint8_t header[kFileHeaderBytes];
    readExactly(header, sizeof header, "file header");
    if (std::memcmp(header, kFileMagic, 8) != 0) corrupt("it does not start with a spill file header");
    raw_.resize(info_.maxBlockBytes);
  } catch (...) {
    ::close(fd_);
    fd_ = -1;
    throw;
  }
}

SpillReader::~SpillReader() {
  if (fd_ >= 0) ::close(fd_);
}

void SpillReader::corrupt(const std::string& why) const {
  throw Error(ErrorCode::kSpillCorrupt, "spill file " + info_.path + " is corrupt: " + why);
}

void SpillReader::readExactly(uint8_t* into, size_t length, const char* what) {
  // A spill file that ends early was cut short: corrupt, not an I/O failure.
  if (readFileUpTo(fd_, into, length, offset_, info_.path) < length) {
    corrupt(std::string("it ends inside the ") + what + " (truncated)");
  }
  offset_ += length;
}

bool SpillReader::loadBlock() {
  uint8_t header[kBlockHeaderBytes];
  readExactly(header, 4, "block header");
  const uint32_t magic = get32(header);
  if (magic == kFooterMagic) {
    uint8_t footer[kFooterBytes];
    std::memcpy(footer, header, 4);
    readExactly(footer + 4, kFooterBytes - 4, "footer");
    if (crc32c(0, footer, 28) != get32(footer + 28)) corrupt("the footer checksum does not match");
    if (get64(footer + 8) != returned_ || get64(footer + 16) != blocksRead_) {
      corrupt("the footer counts " + std::to_string(get64(footer + 8)) + " records, " +
              std::to_string(returned_) + " were read");
    }
    if (returned_ != info_.records) {
      corrupt("it holds " + std::to_string(returned_) + " records, " + std::to_string(info_.records) +
              " were written");
    }
    return false;
  }
  if (magic != kBlockMagic) corrupt("a block header is damaged");
  readExactly(header + 4, kBlockHeaderBytes - 4, "block header");
  const uint32_t codec = get32(header + 4);
  const uint32_t rawBytes = get32(header + 8);
  const uint32_t storedBytes = get32(header + 12);
  const uint32_t records = get32(header + 16);
  if (rawBytes > info_.maxBlockBytes || codec > 1 || (codec == 0 && storedBytes != rawBytes) ||
      storedBytes > lz4CompressBound(rawBytes) || records == 0) {
    corrupt("a block header is damaged");
  }
  uint8_t* body = raw_.data();
  if (codec == 1) {
    stored_.resize(storedBytes);
    body = stored_.data();
  }
  readExactly(body, storedBytes, "block body");
  if (crc32c(crc32c(0, header, 20), body, storedBytes) != get32(header + 20)) {
    corrupt("block " + std::to_string(blocksRead_) + " failed its checksum");
  }
  if (codec == 1 && !lz4Decompress(stored_.data(), storedBytes, raw_.data(), rawBytes)) {
    corrupt("block " + std::to_string(blocksRead_) + " does not decompress");
  }
  ++blocksRead_;
  position_ = 0;
  rawLength_ = rawBytes;
  recordsLeftInBlock_ = records;
  return true;
}

bool SpillReader::next(RecordRef& out) {
  if (recordsLeftInBlock_ == 0) {
    if (position_ != rawLength_) corrupt("a block holds more bytes than its records");
    if (!loadBlock()) return false;
  }
  if (rawLength_ - position_ < kPrefixBytes + kRecordLengthBytes) corrupt("a record is cut short");
  const uint8_t* at = raw_.data() + position_;
  const uint64_t recordBytes = kRecordLengthBytes + uint64_t{get32(at + kPrefixBytes)};
  if (rawLength_ - position_ - kPrefixBytes < recordBytes) corrupt("a record overruns its block");
  out.prefix = get64(at);
  out.record = at + kPrefixBytes;
  position_ += kPrefixBytes + recordBytes;
  --recordsLeftInBlock_;
  ++returned_;
  return true;
}

}  // namespace tungsten
