#include "lz4_block.h"

#include <cstring>

#include "unaligned.h"

namespace tungsten {

namespace {

constexpr size_t kMinMatch = 4;
constexpr size_t kLastLiterals = 5;
constexpr size_t kMatchFindLimit = 12;
constexpr size_t kMaxOffset = 65535;
constexpr int kHashBits = 12;

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "match lengths count equal bytes from the low end of a word");

// Copies `length` (<= 16) bytes as one 16-byte move when both sides have the room: the short
// literal runs of columnar data (3 bytes between 5-byte matches in a column of small integers)
// made a call to memcpy per sequence the compressor's and decompressor's largest cost.
inline void copyShort(uint8_t* to, const uint8_t* toEnd, const uint8_t* from, const uint8_t* fromEnd, size_t length) {
  if (length <= 16 && toEnd - to >= 16 && fromEnd - from >= 16) {
    std::memcpy(to, from, 16);
  } else if (length > 0) {
    std::memcpy(to, from, length);  // `from` may be null when length is 0
  }
}

// The bytes at a and b that are equal, from the first, up to `limit`; 8 at a time.
inline size_t commonLength(const uint8_t* a, const uint8_t* b, size_t limit) {
  size_t n = 0;
  while (n + 8 <= limit) {
    const uint64_t diff = loadUnaligned<uint64_t>(a + n) ^ loadUnaligned<uint64_t>(b + n);
    if (diff != 0) return n + (__builtin_ctzll(diff) >> 3);
    n += 8;
  }
  while (n < limit && a[n] == b[n]) ++n;
  return n;
}

uint32_t hashSequence(uint32_t sequence) { return (sequence * 2654435761u) >> (32 - kHashBits); }

uint8_t* writeLength(uint8_t* op, size_t length) {
  while (length >= 255) {
    *op++ = 255;
    length -= 255;
  }
  *op++ = static_cast<uint8_t>(length);
  return op;
}

// `opEnd` and `srcEnd` bound the output and the input, for copyShort.
uint8_t* emitSequence(uint8_t* op, const uint8_t* opEnd, const uint8_t* literals, const uint8_t* srcEnd,
                      size_t literalLength, size_t offset, size_t matchLength) {
  uint8_t* token = op++;
  uint8_t tokenValue = static_cast<uint8_t>((literalLength >= 15 ? 15 : literalLength) << 4);
  if (literalLength >= 15) op = writeLength(op, literalLength - 15);
  copyShort(op, opEnd, literals, srcEnd, literalLength);
  op += literalLength;
  if (matchLength == 0) {  // the final, literals-only sequence
    *token = tokenValue;
    return op;
  }
  *op++ = static_cast<uint8_t>(offset & 0xff);
  *op++ = static_cast<uint8_t>(offset >> 8);
  size_t code = matchLength - kMinMatch;
  tokenValue |= static_cast<uint8_t>(code >= 15 ? 15 : code);
  if (code >= 15) op = writeLength(op, code - 15);
  *token = tokenValue;
  return op;
}

}  // namespace

size_t lz4Compress(const uint8_t* src, size_t length, uint8_t* dst) {
  uint8_t* op = dst;
  const uint8_t* const opEnd = dst + lz4CompressBound(length);
  const uint8_t* const srcEnd = src + length;
  size_t anchor = 0;
  if (length > kMatchFindLimit) {
    // Positions + 1, so that 0 means empty; only used within one call. On the stack (16 KiB;
    // libuv's workers have 8 MiB): a thread_local in a shared library costs a __tls_get_addr
    // call per use, 1-2% of a shuffle-heavy job.
    uint32_t table[1 << kHashBits];
    std::memset(table, 0, sizeof table);
    const size_t matchFindLimit = length - kMatchFindLimit;
    const size_t matchLimit = length - kLastLiterals;
    size_t ip = 0;
    size_t misses = 0;
    while (ip < matchFindLimit) {
      const uint32_t sequence = loadUnaligned<uint32_t>(src + ip);
      const uint32_t h = hashSequence(sequence);
      const size_t candidate = table[h];
      table[h] = static_cast<uint32_t>(ip + 1);
      if (candidate != 0 && ip - (candidate - 1) <= kMaxOffset && loadUnaligned<uint32_t>(src + candidate - 1) == sequence) {
        const size_t ref = candidate - 1;
        const size_t matchLength =
            kMinMatch + commonLength(src + ip + kMinMatch, src + ref + kMinMatch, matchLimit - ip - kMinMatch);
        op = emitSequence(op, opEnd, src + anchor, srcEnd, ip - anchor, ip - ref, matchLength);
        ip += matchLength;
        anchor = ip;
        misses = 0;
      } else {
        // Step faster through data that does not compress, as LZ4's acceleration does.
        ip += 1 + (misses++ >> 6);
      }
    }
  }
  return static_cast<size_t>(emitSequence(op, opEnd, src + anchor, srcEnd, length - anchor, 0, 0) - dst);
}

size_t lz4DecompressPrefixed(const uint8_t* src, size_t storedLength, const uint8_t* window, uint8_t* dst,
                             size_t capacity) {
  const uint8_t* ip = src;
  const uint8_t* const ipEnd = src + storedLength;
  uint8_t* op = dst;
  uint8_t* const opEnd = dst + capacity;
  auto readLength = [&](size_t& length) -> bool {
    uint8_t byte;
    do {
      if (ip >= ipEnd) return false;
      byte = *ip++;
      length += byte;
    } while (byte == 255);
    return true;
  };
  while (ip < ipEnd) {
    const uint8_t token = *ip++;
    size_t literalLength = token >> 4;
    if (literalLength == 15 && !readLength(literalLength)) return kLz4Malformed;
    if (literalLength > static_cast<size_t>(ipEnd - ip) || literalLength > static_cast<size_t>(opEnd - op)) {
      return kLz4Malformed;
    }
    copyShort(op, opEnd, ip, ipEnd, literalLength);
    ip += literalLength;
    op += literalLength;
    if (ip == ipEnd) break;  // the last sequence has no match
    if (ipEnd - ip < 2) return kLz4Malformed;
    const size_t offset = ip[0] | (size_t{ip[1]} << 8);
    ip += 2;
    if (offset == 0 || offset > static_cast<size_t>(op - window)) return kLz4Malformed;
    size_t matchLength = token & 15;
    if (matchLength == 15 && !readLength(matchLength)) return kLz4Malformed;
    matchLength += kMinMatch;
    if (matchLength > static_cast<size_t>(opEnd - op)) return kLz4Malformed;
    const uint8_t* match = op - offset;
    if (offset >= 16 && matchLength <= 16 && opEnd - op >= 16) {
      std::memcpy(op, match, 16);  // the 16 bytes behind op do not overlap it
      op += matchLength;
    } else if (offset >= 8 && matchLength <= 8 && opEnd - op >= 8) {
      std::memcpy(op, match, 8);  // a column of 8-byte values repeats its upper bytes 8 back
      op += matchLength;
    } else if (offset >= matchLength) {
      std::memcpy(op, match, matchLength);
      op += matchLength;
    } else {
      // Overlapping: the match repeats the last `offset` bytes. From 8 back, 8 bytes at a time
      // never read what the same move writes (a column of equal 8-byte values is one such match).
      size_t left = matchLength;
      if (offset >= 8) {
        for (; left >= 8; left -= 8, op += 8, match += 8) std::memcpy(op, match, 8);
      }
      for (; left > 0; --left) *op++ = *match++;
    }
  }
  return static_cast<size_t>(op - dst);
}

bool lz4Decompress(const uint8_t* src, size_t storedLength, uint8_t* dst, size_t rawLength) {
  return lz4DecompressPrefixed(src, storedLength, dst, dst, rawLength) == rawLength;
}

}  // namespace tungsten
