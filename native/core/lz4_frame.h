// The LZ4 frame format (lz4's lz4frame, format version 1.6.x), the codec behind Arrow IPC's
// LZ4_FRAME body compression.
//
//   frame      = magic 0x184D2204 (u32 LE), descriptor, block*, end mark (u32 0), [content xxh32]
//   descriptor = FLG, BD, [content size u64], [dictionary id u32], HC
//     FLG bits: 7-6 version (01), 5 blocks independent, 4 block checksums, 3 content size,
//               2 content checksum, 1 reserved (0), 0 dictionary id
//     BD  bits: 6-4 largest block (4: 64 KiB, 5: 256 KiB, 6: 1 MiB, 7: 4 MiB), others 0
//     HC  = (xxh32(FLG .. last descriptor byte before HC) >> 8) & 0xFF
//   block      = u32 LE size (bit 31 set: stored uncompressed), data, [xxh32 of data]
//
// Written here: independent blocks of up to 4 MiB (one block per Arrow buffer of a 65,536-row
// message), no checksums (a shuffle segment has its CRC-32, and Arrow C++ writes none by
// default), no content size. Read: any frame another writer makes, linked blocks and every
// checksum included (checked), concatenated frames and skippable frames; a dictionary id is
// refused, as Arrow never writes one. Corrupt input raises kIpcCorrupt, never reads or writes
// outside the buffers.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tungsten {

inline constexpr size_t kLz4FrameBlockBytes = size_t{4} << 20;

// The most bytes lz4FrameCompress can write for `length` bytes.
size_t lz4FrameBound(size_t length);

// Writes `length` bytes of src as one frame into dst (capacity >= lz4FrameBound(length));
// returns the frame's size.
size_t lz4FrameCompress(const uint8_t* src, size_t length, uint8_t* dst);

// Decodes the frame(s) in src[0, length) into exactly `rawLength` bytes at dst. Throws
// Error(kIpcCorrupt) when the frames are malformed or decode to any other length.
void lz4FrameDecompress(const uint8_t* src, size_t length, uint8_t* dst, size_t rawLength);

}  // namespace tungsten
