#include "lz4_frame.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "errors.h"
#include "lz4_block.h"
#include "unaligned.h"
#include "xxhash32.h"

namespace tungsten {

namespace {

constexpr uint32_t kFrameMagic = 0x184D2204u;
// Skippable frames: magic 0x184D2A50 .. 0x184D2A5F, then a u32 length of bytes to skip.
constexpr uint32_t kSkippableMask = 0xFFFFFFF0u;
constexpr uint32_t kSkippableMagic = 0x184D2A50u;
constexpr uint32_t kUncompressedBit = 0x80000000u;
constexpr uint8_t kVersion = 0x40;
constexpr uint8_t kFlagIndependent = 0x20;
constexpr uint8_t kFlagBlockChecksum = 0x10;
constexpr uint8_t kFlagContentSize = 0x08;
constexpr uint8_t kFlagContentChecksum = 0x04;
constexpr uint8_t kFlagReserved = 0x02;
constexpr uint8_t kFlagDictionary = 0x01;
constexpr uint8_t kBlockSize4MiB = 7;

static_assert(kLz4FrameBlockBytes == size_t{1} << (8 + 2 * kBlockSize4MiB), "BD code 7 is 4 MiB");

[[noreturn]] void corrupt(const std::string& what) {
  throw Error(ErrorCode::kIpcCorrupt, "the LZ4 frame is corrupt: " + what);
}

}  // namespace

size_t lz4FrameBound(size_t length) {
  const size_t blocks = std::max<size_t>(1, (length + kLz4FrameBlockBytes - 1) / kLz4FrameBlockBytes);
  // magic + FLG + BD + HC, end mark; per block its size field and the block codec's bound.
  return 7 + 4 + blocks * (4 + 16) + length + length / 255;
}

size_t lz4FrameCompress(const uint8_t* src, size_t length, uint8_t* dst) {
  uint8_t* op = dst;
  storeUnaligned<uint32_t>(op, kFrameMagic);
  op += 4;
  op[0] = kVersion | kFlagIndependent;
  op[1] = static_cast<uint8_t>(kBlockSize4MiB << 4);
  op[2] = static_cast<uint8_t>((xxh32(op, 2) >> 8) & 0xFF);
  op += 3;
  for (size_t at = 0; at < length; at += kLz4FrameBlockBytes) {
    const size_t chunk = std::min(kLz4FrameBlockBytes, length - at);
    const size_t stored = lz4Compress(src + at, chunk, op + 4);
    if (stored < chunk) {
      storeUnaligned<uint32_t>(op, static_cast<uint32_t>(stored));
      op += 4 + stored;
    } else {  // incompressible: stored as it is, which the bound leaves room for
      storeUnaligned<uint32_t>(op, static_cast<uint32_t>(chunk) | kUncompressedBit);
      std::memcpy(op + 4, src + at, chunk);
      op += 4 + chunk;
    }
  }
  storeUnaligned<uint32_t>(op, 0);
  op += 4;
  return static_cast<size_t>(op - dst);
}

void lz4FrameDecompress(const uint8_t* src, size_t length, uint8_t* dst, size_t rawLength) {
  const uint8_t* ip = src;
  const uint8_t* const ipEnd = src + length;
  uint8_t* op = dst;
  uint8_t* const opEnd = dst + rawLength;
  auto need = [&](size_t bytes, const char* what) {
    if (static_cast<size_t>(ipEnd - ip) < bytes) corrupt(std::string("it ends inside ") + what);
  };
  if (length == 0) corrupt("it is empty");
  while (ip < ipEnd) {
    need(4, "a frame's magic number");
    const uint32_t magic = loadUnaligned<uint32_t>(ip);
    ip += 4;
    if ((magic & kSkippableMask) == kSkippableMagic) {
      need(4, "a skippable frame");
      const uint32_t skip = loadUnaligned<uint32_t>(ip);
      ip += 4;
      need(skip, "a skippable frame");
      ip += skip;
      continue;
    }
    if (magic != kFrameMagic) corrupt("a frame does not start with LZ4's magic number");
    need(3, "a frame descriptor");
    const uint8_t* descriptor = ip;
    const uint8_t flags = ip[0];
    const uint8_t bd = ip[1];
    if ((flags & 0xC0) != kVersion) corrupt("unknown format version");
    if ((flags & kFlagReserved) != 0 || (bd & 0x8F) != 0) corrupt("reserved descriptor bits are set");
    if ((flags & kFlagDictionary) != 0) corrupt("it needs a dictionary, which Arrow never uses");
    const uint8_t sizeCode = (bd >> 4) & 7;
    if (sizeCode < 4) corrupt("unknown largest block size");
    const size_t blockMax = size_t{1} << (8 + 2 * sizeCode);
    size_t descriptorBytes = 2 + ((flags & kFlagContentSize) ? 8 : 0);
    need(descriptorBytes + 1, "a frame descriptor");
    uint64_t contentSize = 0;
    if (flags & kFlagContentSize) std::memcpy(&contentSize, ip + 2, 8);
    if (((xxh32(descriptor, descriptorBytes) >> 8) & 0xFF) != descriptor[descriptorBytes]) {
      corrupt("the descriptor's checksum does not match");
    }
    ip += descriptorBytes + 1;
    uint8_t* const frameStart = op;
    for (;;) {
      need(4, "a block size");
      const uint32_t field = loadUnaligned<uint32_t>(ip);
      ip += 4;
      if (field == 0) break;
      const size_t stored = field & ~kUncompressedBit;
      if (stored > blockMax) corrupt("a block is larger than the frame's largest block size");
      need(stored + ((flags & kFlagBlockChecksum) ? 4 : 0), "a block");
      if ((flags & kFlagBlockChecksum) && xxh32(ip, stored) != loadUnaligned<uint32_t>(ip + stored)) {
        corrupt("a block's checksum does not match");
      }
      const size_t room = std::min(blockMax, static_cast<size_t>(opEnd - op));
      size_t produced;
      if (field & kUncompressedBit) {
        if (stored > room) corrupt("it holds more bytes than the buffer's length");
        std::memcpy(op, ip, stored);
        produced = stored;
      } else {
        // Linked blocks may refer back into the frame's earlier output (64 KiB at most).
        const uint8_t* window = (flags & kFlagIndependent) ? op : frameStart;
        produced = lz4DecompressPrefixed(ip, stored, window, op, room);
        if (produced == kLz4Malformed) corrupt("a block does not decode (or holds more bytes than the buffer's length)");
      }
      op += produced;
      ip += stored + ((flags & kFlagBlockChecksum) ? 4 : 0);
    }
    const size_t frameBytes = static_cast<size_t>(op - frameStart);
    if ((flags & kFlagContentSize) && contentSize != frameBytes) corrupt("its content size does not match what it decodes to");
    if (flags & kFlagContentChecksum) {
      need(4, "the content checksum");
      if (xxh32(frameStart, frameBytes) != loadUnaligned<uint32_t>(ip)) corrupt("the content checksum does not match");
      ip += 4;
    }
  }
  if (op != opEnd) {
    corrupt("it decodes to " + std::to_string(op - dst) + " bytes, where the buffer's length says " + std::to_string(rawLength));
  }
}

}  // namespace tungsten
