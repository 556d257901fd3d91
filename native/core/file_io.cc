#include "file_io.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "byte_vector.h"
#include "errors.h"

namespace tungsten {

namespace {
std::atomic<int64_t> diskFullAfter{-1};

[[noreturn]] void throwWriteError(int error, const std::string& path, const char* device) {
  if (error == ENOSPC || error == EDQUOT) {
    throw Error(ErrorCode::kDiskFull, std::string("no space left on the ") + device + " writing " + path +
                                          "; free space there or point local directories elsewhere");
  }
  throw Error(ErrorCode::kIoError, "cannot write " + path + ": " + std::strerror(error));
}
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
      throwWriteError(errno, path, device);
    }
    if (budget >= 0) diskFullAfter.fetch_sub(written);
    data += written;
    length -= static_cast<size_t>(written);
    if (offset >= 0) offset += written;
  }
}

size_t readFileUpTo(int fd, uint8_t* into, size_t length, uint64_t offset, const std::string& path) {
  size_t total = 0;
  while (total < length) {
    const ssize_t got = ::pread(fd, into + total, length - total, static_cast<off_t>(offset + total));
    if (got < 0) {
      if (errno == EINTR) continue;
      throw Error(ErrorCode::kIoError, "cannot read " + path + ": " + std::strerror(errno));
    }
    if (got == 0) break;
    total += static_cast<size_t>(got);
  }
  return total;
}

void readFileFully(int fd, uint8_t* into, size_t length, uint64_t offset, const std::string& path, const char* what) {
  if (readFileUpTo(fd, into, length, offset, path) < length) throw Error(ErrorCode::kIoError, path + " ends inside " + what);
}

void copyFileBytes(int fromFd, uint64_t fromOffset, const std::string& fromPath, int toFd, uint64_t toOffset,
                   const std::string& toPath, uint64_t length, const char* device) {
  // An injected full disk must apply to these bytes too, so the kernel copy is skipped then.
  bool inKernel = diskFullAfter.load() < 0;
  while (length > 0 && inKernel) {
    loff_t from = static_cast<loff_t>(fromOffset);
    loff_t to = static_cast<loff_t>(toOffset);
    const ssize_t copied = ::copy_file_range(fromFd, &from, toFd, &to, length, 0);
    if (copied < 0) {
      if (errno == EINTR) continue;
      // Not supported between these files (another file system, an old kernel): copy in user
      // space instead; any other error is the write's.
      if (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP) {
        inKernel = false;
        break;
      }
      throwWriteError(errno, toPath, device);
    }
    if (copied == 0) throw Error(ErrorCode::kIoError, fromPath + " ends before the bytes to copy");
    fromOffset += static_cast<uint64_t>(copied);
    toOffset += static_cast<uint64_t>(copied);
    length -= static_cast<uint64_t>(copied);
  }
  if (length == 0) return;
  ByteVector buffer(std::min<uint64_t>(length, uint64_t{1} << 20));  // filled by each read, never zeroed
  while (length > 0) {
    const size_t chunk = static_cast<size_t>(std::min<uint64_t>(length, buffer.size()));
    readFileFully(fromFd, buffer.data(), chunk, fromOffset, fromPath, "the bytes to copy");
    writeFileFully(toFd, buffer.data(), chunk, static_cast<int64_t>(toOffset), toPath, device);
    fromOffset += chunk;
    toOffset += chunk;
    length -= chunk;
  }
}

}  // namespace tungsten
