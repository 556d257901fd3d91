// Writing and reading files from native code (spill files, shuffle files), with the errors
// every caller reports the same way: ENOSPC and EDQUOT are kDiskFull, anything else kIoError,
// and both name the file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace tungsten {

// Writes all `length` bytes: at `offset` (pwrite) when offset >= 0, else at the file's position.
// `device` names the device in a full-disk message ("spill device", "shuffle device").
void writeFileFully(int fd, const uint8_t* data, size_t length, int64_t offset, const std::string& path,
                    const char* device);

// Reads exactly `length` bytes at `offset`; kIoError (naming `what`) if the file ends first.
void readFileFully(int fd, uint8_t* into, size_t length, uint64_t offset, const std::string& path, const char* what);

// Tests: every native file write fails with ENOSPC once `bytes` more bytes have been written
// (-1 turns it off).
void injectDiskFullAfter(int64_t bytes);

}  // namespace tungsten
