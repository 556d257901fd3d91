#include "crc32.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#include <wmmintrin.h>
#include <smmintrin.h>
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

// CRC-32 (IEEE) by carry-less multiplication (Intel's "Fast CRC Computation for Generic
// Polynomials Using PCLMULQDQ", the bit-reflected variant): four 128-bit lanes are folded 64
// bytes at a time, then into one lane, then reduced 128 -> 64 -> 32 bits (Barrett). The
// constants are x^k mod P(x) for the fold distances, bit-reflected and shifted as the paper
// gives them, and P(x) with its Barrett quotient. Takes and returns the register (not
// complemented); `length` must be a multiple of 16 and at least 64.
constexpr uint64_t kFold512[2] = {0x0154442bd4, 0x01c6e41596};  // x^(512+32), x^(512-32)
constexpr uint64_t kFold128[2] = {0x01751997d0, 0x00ccaa009e};  // x^(128+32), x^(128-32)
constexpr uint64_t kFold64 = 0x0163cd6124;                      // x^64
constexpr uint64_t kBarrett[2] = {0x01db710641, 0x01f7011641};  // P(x), floor(x^64 / P(x))

#define TUNGSTEN_CLMUL __attribute__((target("pclmul,sse4.1")))

TUNGSTEN_CLMUL inline __m128i load(const uint8_t* at) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(at)); }

// `a` folded forward by the distance `k` encodes, plus the next 16 bytes.
TUNGSTEN_CLMUL inline __m128i fold(__m128i a, __m128i k, __m128i next) {
  return _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(a, k, 0x00), _mm_clmulepi64_si128(a, k, 0x11)), next);
}

TUNGSTEN_CLMUL uint32_t crc32IeeeFolded(uint32_t crc, const uint8_t* p, size_t length) {
  __m128i x1 = _mm_xor_si128(load(p), _mm_cvtsi32_si128(static_cast<int>(crc)));
  __m128i x2 = load(p + 16);
  __m128i x3 = load(p + 32);
  __m128i x4 = load(p + 48);
  p += 64;
  length -= 64;
  const __m128i k512 = _mm_set_epi64x(static_cast<long long>(kFold512[1]), static_cast<long long>(kFold512[0]));
  while (length >= 64) {
    x1 = fold(x1, k512, load(p));
    x2 = fold(x2, k512, load(p + 16));
    x3 = fold(x3, k512, load(p + 32));
    x4 = fold(x4, k512, load(p + 48));
    p += 64;
    length -= 64;
  }
  const __m128i k128 = _mm_set_epi64x(static_cast<long long>(kFold128[1]), static_cast<long long>(kFold128[0]));
  x1 = fold(x1, k128, x2);
  x1 = fold(x1, k128, x3);
  x1 = fold(x1, k128, x4);
  while (length >= 16) {
    x1 = fold(x1, k128, load(p));
    p += 16;
    length -= 16;
  }
  // 128 -> 64 bits.
  const __m128i low32 = _mm_setr_epi32(~0, 0, ~0, 0);
  __m128i x2r = _mm_clmulepi64_si128(x1, k128, 0x10);
  x1 = _mm_xor_si128(_mm_srli_si128(x1, 8), x2r);
  const __m128i k64 = _mm_set_epi64x(0, static_cast<long long>(kFold64));
  x2r = _mm_srli_si128(x1, 4);
  x1 = _mm_xor_si128(_mm_clmulepi64_si128(_mm_and_si128(x1, low32), k64, 0x00), x2r);
  // Barrett reduction to 32 bits.
  const __m128i barrett = _mm_set_epi64x(static_cast<long long>(kBarrett[1]), static_cast<long long>(kBarrett[0]));
  __m128i t = _mm_clmulepi64_si128(_mm_and_si128(x1, low32), barrett, 0x10);
  t = _mm_clmulepi64_si128(_mm_and_si128(t, low32), barrett, 0x00);
  x1 = _mm_xor_si128(x1, t);
  return static_cast<uint32_t>(_mm_extract_epi32(x1, 1));
}

const bool kHasClmul = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
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
  const uint8_t* p = static_cast<const uint8_t*>(data);
  crc = ~crc;
#if defined(__x86_64__)
  if (kHasClmul && length >= 64) {
    const size_t folded = length & ~size_t{15};
    crc = crc32IeeeFolded(crc, p, folded);
    p += folded;
    length -= folded;
  }
#endif
  return ~crcSliced<kIeee>(crc, p, length);
}

uint32_t crc32IeeeTable(uint32_t crc, const void* data, size_t length) {
  return ~crcSliced<kIeee>(~crc, static_cast<const uint8_t*>(data), length);
}

}  // namespace tungsten
