// Errors raised by native/core.
//
// native/core never knows about JavaScript. It throws tungsten::Error with a stable code; the
// binding turns that into the TypeScript error class registered for the same code (src/errors.ts
// lists the codes, and the two lists must match: test/native/errors.test.ts checks that every
// ErrorCode below is known to TypeScript).
#pragma once

#include <stdexcept>
#include <string>

namespace tungsten {

enum class ErrorCode {
  kInvalidArgument,   // a caller passed a value outside the documented range
  kTooLargePage,      // a page above kMaximumPageSizeBytes was asked for (TooLargePageException)
  kPageTableFull,     // all 8192 page numbers of a task are in use
  kInvalidPageState,  // double free, foreign page, a TMM page freed in the allocator, ...
  kRecordTooLarge,    // a row does not fit the row format (4 GiB - 1 bytes) or the largest page
  kSpillCorrupt,      // a spill file failed its checksum, is truncated or is not a spill file
  kDiskFull,          // no space left on the spill device
  kIoError,           // any other failure to create, write, read or remove a spill file
  kArithmeticOverflow,  // an integer sum left the int64 range (Spark's ANSI-mode overflow)
  kIpcCorrupt,          // Arrow IPC bytes (a message, an LZ4 frame) that cannot be decoded
};

// Every code, for the binding's list that test/native/addon.test.ts compares with TypeScript's.
inline constexpr ErrorCode kAllErrorCodes[] = {
    ErrorCode::kInvalidArgument, ErrorCode::kTooLargePage, ErrorCode::kPageTableFull, ErrorCode::kInvalidPageState,
    ErrorCode::kRecordTooLarge,  ErrorCode::kSpillCorrupt, ErrorCode::kDiskFull,      ErrorCode::kIoError,
    ErrorCode::kArithmeticOverflow, ErrorCode::kIpcCorrupt};

// The string form crosses the N-API boundary; it is the `code` of the TypeScript error.
inline const char* errorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "INVALID_ARGUMENT";
    case ErrorCode::kTooLargePage: return "TOO_LARGE_PAGE";
    case ErrorCode::kPageTableFull: return "PAGE_TABLE_FULL";
    case ErrorCode::kInvalidPageState: return "INVALID_PAGE_STATE";
    case ErrorCode::kRecordTooLarge: return "RECORD_TOO_LARGE";
    case ErrorCode::kSpillCorrupt: return "SPILL_CORRUPT";
    case ErrorCode::kDiskFull: return "DISK_FULL";
    case ErrorCode::kIoError: return "IO_ERROR";
    case ErrorCode::kArithmeticOverflow: return "ARITHMETIC_OVERFLOW";
    case ErrorCode::kIpcCorrupt: return "IPC_CORRUPT";
  }
  return "INTERNAL";
}

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

}  // namespace tungsten
