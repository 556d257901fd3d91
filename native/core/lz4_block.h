// An LZ4 block-format codec (the format of lz4's LZ4_compress_default / LZ4_decompress_safe),
// written here because no LZ4 C sources come with the npm packages the build may use.
//
// The compressor is greedy with a 4K-entry hash of 4-byte sequences and a 64 KiB window, as
// LZ4's fast mode; it honours the format's end rules (the last 5 bytes are literals, the last
// match starts at least 12 bytes before the end). The decompressor checks every length and
// offset against both buffers, so corrupt input raises an error instead of reading or writing
// out of bounds. Spill blocks are checksummed before they are decompressed in any case.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tungsten {

// The most bytes compressing `length` bytes can produce.
inline size_t lz4CompressBound(size_t length) { return length + length / 255 + 16; }

// Compresses src into dst (capacity >= lz4CompressBound(length)); returns the compressed size.
size_t lz4Compress(const uint8_t* src, size_t length, uint8_t* dst);

// What lz4DecompressPrefixed returns for malformed input.
inline constexpr size_t kLz4Malformed = SIZE_MAX;

// Decompresses a block into dst (at most `capacity` bytes) and returns how many bytes it wrote,
// or kLz4Malformed. Matches may reach back before dst as far as `window` (window <= dst): the
// bytes in between are earlier output, as in an LZ4 frame's linked blocks.
size_t lz4DecompressPrefixed(const uint8_t* src, size_t storedLength, const uint8_t* window, uint8_t* dst,
                             size_t capacity);

// Decompresses exactly `rawLength` bytes; returns false if the input is malformed.
bool lz4Decompress(const uint8_t* src, size_t storedLength, uint8_t* dst, size_t rawLength);

}  // namespace tungsten
