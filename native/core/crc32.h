// The two CRC-32s native code computes, both reflected, initial value and final XOR ~0, and
// resumable: crc(crc(0, a), b) == crc(0, a ++ b).
//   CRC-32C (Castagnoli): the checksum of spill blocks: the SSE4.2 instruction where the CPU
//     has it (about 20 GB/s here, so checksums cost nothing next to the sort), a table otherwise.
//   CRC-32 (IEEE 802.3, zlib's crc32): the checksum of shuffle segments, which the native
//     segment reader checks as it decodes a local segment (JavaScript checks segments fetched
//     as bytes, with node:zlib's crc32); folded with PCLMULQDQ where the CPU has it (runs of 64
//     bytes and more), slicing-by-8 tables otherwise (about 2 GB/s: 3-4% of a sort job's CPU,
//     written and read once each).
#pragma once

#include <cstddef>
#include <cstdint>

namespace tungsten {

uint32_t crc32c(uint32_t crc, const void* data, size_t length);
uint32_t crc32Ieee(uint32_t crc, const void* data, size_t length);
// crc32Ieee by the tables alone (what the folded path is tested against).
uint32_t crc32IeeeTable(uint32_t crc, const void* data, size_t length);

}  // namespace tungsten
