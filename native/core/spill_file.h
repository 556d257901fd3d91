// Spill files: one sorted run of records, written once, read once, in blocks with checksums.
//
//   file     = header, block*, footer
//   header   (16 B)  "TSPILL" 0x00 0x01 (magic and version 1), u32 codec, u32 reserved = 0
//   block    (24 B header, then storedBytes of body)
//              u32 magic "TBLK" (0x4B4C4254), u32 codec (0 none, 1 lz4), u32 rawBytes,
//              u32 storedBytes, u32 records, u32 crc32c over the 20 header bytes before it and
//              the stored body
//   body     records back to back (compressed as one LZ4 block when codec = 1):
//              u64 prefix, then the record exactly as in a page: u32 len, payload (row_format.h)
//   footer   (32 B)  u32 magic "TEND" (0x444E4554), u32 reserved = 0, u64 records, u64 blocks,
//              u32 largest rawBytes of any block, u32 crc32c over the 28 footer bytes before it
// All integers little-endian. A block holds whole records and about blockTarget raw bytes; a
// record larger than that gets a block of its own.
//
// What a reader guarantees: a record is returned only from a block whose checksum matched;
// a file that ends before its footer, or whose footer disagrees with what was read, raises
// kSpillCorrupt. A reader needs one raw block of memory (plus one stored block when
// compressed): maxBlockBytes tells the caller how much to reserve before merging.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "record_source.h"

namespace tungsten {

enum class SpillCodec : uint32_t { kNone = 0, kLz4 = 1 };

struct SpillRunInfo {
  std::string path;
  SpillCodec codec = SpillCodec::kNone;
  uint64_t records = 0;
  uint64_t blocks = 0;
  uint64_t fileBytes = 0;      // bytes written to disk
  uint64_t rawBytes = 0;       // bytes of records before compression
  uint32_t maxBlockBytes = 0;  // the largest raw block: the read buffer a reader needs
};

inline constexpr uint32_t kDefaultSpillBlockBytes = 1 << 20;  // Spark's 1 MiB disk write buffer

class SpillWriter {
 public:
  // Creates `path`, which must not exist. Throws kIoError / kDiskFull.
  SpillWriter(std::string path, SpillCodec codec, uint32_t blockTargetBytes = kDefaultSpillBlockBytes);
  // An unfinished writer removes its file: a failed spill leaves nothing behind.
  ~SpillWriter();
  SpillWriter(const SpillWriter&) = delete;
  SpillWriter& operator=(const SpillWriter&) = delete;

  void write(uint64_t prefix, const uint8_t* record) {
    const size_t recordBytes = 4 + load32(record);
    const size_t entryBytes = 8 + recordBytes;
    if (blockUsed_ + entryBytes > blockCapacity_) makeRoom(entryBytes);
    std::memcpy(block_.get() + blockUsed_, &prefix, 8);
    std::memcpy(block_.get() + blockUsed_ + 8, record, recordBytes);
    blockUsed_ += entryBytes;
    ++blockRecords_;
    ++info_.records;
  }
  SpillRunInfo finish();

 private:
  static uint32_t load32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
  }
  // Flushes the block if it holds records, and grows it for a record larger than a block.
  void makeRoom(size_t entryBytes);
  void flushBlock();
  void writeAll(const uint8_t* data, size_t length);

  SpillRunInfo info_;
  int fd_ = -1;
  uint32_t blockTarget_;
  uint32_t blockRecords_ = 0;
  std::unique_ptr<uint8_t[]> block_;
  size_t blockCapacity_ = 0;
  size_t blockUsed_ = 0;
  std::vector<uint8_t> compressed_;
  bool finished_ = false;
};

class SpillReader : public RecordSource {
 public:
  explicit SpillReader(const SpillRunInfo& info);
  ~SpillReader() override;
  SpillReader(const SpillReader&) = delete;
  SpillReader& operator=(const SpillReader&) = delete;

  bool next(RecordRef& out) override;
  uint64_t remaining() const { return info_.records - returned_; }

 private:
  bool loadBlock();
  void readExactly(uint8_t* into, size_t length, const char* what);
  [[noreturn]] void corrupt(const std::string& why) const;

  SpillRunInfo info_;
  int fd_ = -1;
  uint64_t offset_ = 0;
  uint64_t returned_ = 0;
  uint64_t blocksRead_ = 0;
  std::vector<uint8_t> raw_;
  std::vector<uint8_t> stored_;
  size_t position_ = 0;
  size_t rawLength_ = 0;
  uint32_t recordsLeftInBlock_ = 0;
};

// Removes a file, ignoring "not found". Throws kIoError otherwise.
void removeSpillFile(const std::string& path);

}  // namespace tungsten
