// CRC-32C (Castagnoli), the checksum of spill blocks: the SSE4.2 instruction where the CPU has
// it (about 20 GB/s here, so checksums cost nothing next to the sort), a table otherwise.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tungsten {

uint32_t crc32c(uint32_t crc, const void* data, size_t length);

}  // namespace tungsten
