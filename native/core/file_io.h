// Writing and reading files from native code (spill files, shuffle files), with the errors
// every caller reports the same way: ENOSPC and EDQUOT are kDiskFull, anything else kIoError,
// and both name the file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace tungsten {

// An open file native code appends to from `offset` on (a shuffle's spill file or partition
// file): JavaScript opened it and closes it; `path` names it in messages.
struct PartitionFile {
  int fd = -1;
  uint64_t offset = 0;
  std::string path;
};

// Writes all `length` bytes: at `offset` (pwrite) when offset >= 0, else at the file's position.
// `device` names the device in a full-disk message ("spill device", "shuffle device").
void writeFileFully(int fd, const uint8_t* data, size_t length, int64_t offset, const std::string& path,
                    const char* device);

// Reads up to `length` bytes at `offset`, fewer only where the file ends; returns how many.
// kIoError when reading fails.
size_t readFileUpTo(int fd, uint8_t* into, size_t length, uint64_t offset, const std::string& path);

// Reads exactly `length` bytes at `offset`; kIoError (naming `what`) if the file ends first.
void readFileFully(int fd, uint8_t* into, size_t length, uint64_t offset, const std::string& path, const char* what);

// Copies `length` bytes at `fromOffset` of `fromFd` to `toOffset` of `toFd`: in the kernel
// (copy_file_range) where it can, else through a buffer. Errors as writeFileFully's, naming
// `toPath` (`fromPath` when reading fails or the source ends early).
void copyFileBytes(int fromFd, uint64_t fromOffset, const std::string& fromPath, int toFd, uint64_t toOffset,
                   const std::string& toPath, uint64_t length, const char* device);

// Tests: every native file write fails with ENOSPC once `bytes` more bytes have been written
// (-1 turns it off).
void injectDiskFullAfter(int64_t bytes);

}  // namespace tungsten
