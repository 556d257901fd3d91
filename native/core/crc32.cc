#include "crc32.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace tungsten {

namespace {

constexpr uint32_t kCastagnoli = 0x82F63B78u;  // reflected polynomials
constexpr uint32_t kIeee = 0xEDB88320u;

// Slicing-by-8 tables: table[0] is the byte-at-a-time table; table[k][b] is the CRC of byte b
// followed by k zero bytes.
template <uint32_t kPolynomial>
constexpr std::array<std::array<uint32_t, 256>, 8> makeTables() {
  std::array<std::array<uint32_t, 256>, 8> tables{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t crc = i;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ ((crc & 1) ? kPolynomial : 0);
    tables[0][i] = crc;
  }
  for (int k = 1; k < 8; ++k) {
    for (uint32_t i = 0; i < 256; ++i) tables[k][i] = (tables[k - 1][i] >> 8) ^ tables[0][tables[k - 1][i] & 0xff];
  }
  return tables;
}

template <uint32_t kPolynomial>
struct CrcTables {
  static constexpr std::array<std::array<uint32_t, 256>, 8> kTables = makeTables<kPolynomial>();
};

// Takes and returns the CRC register (not complemented).
template <uint32_t kPolynomial>
uint32_t crcSliced(uint32_t crc, const uint8_t* p, size_t length) {
  const auto& t = CrcTables<kPolynomial>::kTables;
  while (length >= 8) {
    uint32_t low;
    uint32_t high;
    std::memcpy(&low, p, 4);  // little-endian hosts only, as everywhere in native/core
    std::memcpy(&high, p + 4, 4);
    low ^= crc;
    crc = t[7][low & 0xff] ^ t[6][(low >> 8) & 0xff] ^ t[5][(low >> 16) & 0xff] ^ t[4][low >> 24] ^
          t[3][high & 0xff] ^ t[2][(high >> 8) & 0xff] ^ t[1][(high >> 16) & 0xff] ^ t[0][high >> 24];
    p += 8;
    length -= 8;
  }
  while (length-- > 0) crc = (crc >> 8) ^ t[0][(crc ^ *p++) & 0xff];
  return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t crc32cHardware(uint32_t crc, const uint8_t* p, size_t length) {
  uint64_t c = crc;
  while (length >= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    c = _mm_crc32_u64(c, word);
    p += 8;
    length -= 8;
  }
  uint32_t c32 = static_cast<uint32_t>(c);
  while (length-- > 0) c32 = _mm_crc32_u8(c32, *p++);
  return c32;
}

const bool kHasHardwareCrc = __builtin_cpu_supports("sse4.2");
#endif

}  // namespace

uint32_t crc32c(uint32_t crc, const void* data, size_t length) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  crc = ~crc;
#if defined(__x86_64__)
  crc = kHasHardwareCrc ? crc32cHardware(crc, p, length) : crcSliced<kCastagnoli>(crc, p, length);
#else
  crc = crcSliced<kCastagnoli>(crc, p, length);
#endif
  return ~crc;
}

uint32_t crc32Ieee(uint32_t crc, const void* data, size_t length) {
  return ~crcSliced<kIeee>(~crc, static_cast<const uint8_t*>(data), length);
}

}  // namespace tungsten
