#include "file_io.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "errors.h"

namespace tungsten {

namespace {
std::atomic<int64_t> diskFullAfter{-1};
}  // namespace

void injectDiskFullAfter(int64_t bytes) { diskFullAfter.store(bytes); }

void writeFileFully(int fd, const uint8_t* data, size_t length, int64_t offset, const std::string& path,
                    const char* device) {
  while (length > 0) {
    const int64_t budget = diskFullAfter.load();
    size_t chunk = length;
    if (budget >= 0 && static_cast<uint64_t>(budget) < chunk) chunk = static_cast<size_t>(budget);
    ssize_t written = -1;
    if (chunk == 0) {
      errno = ENOSPC;
    } else {
      written = offset >= 0 ? ::pwrite(fd, data, chunk, static_cast<off_t>(offset)) : ::write(fd, data, chunk);
    }
    if (written < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      if (error == ENOSPC || error == EDQUOT) {
        throw Error(ErrorCode::kDiskFull, std::string("no space left on the ") + device + " writing " + path +
                                              "; free space there or point local directories elsewhere");
      }
      throw Error(ErrorCode::kIoError, "cannot write " + path + ": " + std::strerror(error));
    }
    if (budget >= 0) diskFullAfter.fetch_sub(written);
    data += written;
    length -= static_cast<size_t>(written);
    if (offset >= 0) offset += written;
  }
}

void readFileFully(int fd, uint8_t* into, size_t length, uint64_t offset, const std::string& path, const char* what) {
  while (length > 0) {
    const ssize_t got = ::pread(fd, into, length, static_cast<off_t>(offset));
    if (got < 0) {
      if (errno == EINTR) continue;
      throw Error(ErrorCode::kIoError, "cannot read " + path + ": " + std::strerror(errno));
    }
    if (got == 0) throw Error(ErrorCode::kIoError, path + " ends inside " + what);
    into += got;
    length -= static_cast<size_t>(got);
    offset += static_cast<uint64_t>(got);
  }
}

}  // namespace tungsten
