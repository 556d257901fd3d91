#include "radix_sort.h"

#include <cstring>
#include <utility>

namespace tungsten {

SortEntry* radixSortByPrefix(SortEntry* data, SortEntry* scratch, size_t n) {
  if (n < 2) return data;
  size_t counts[8][256];
  std::memset(counts, 0, sizeof counts);
  for (size_t i = 0; i < n; ++i) {
    uint64_t p = data[i].prefix;
    for (int b = 0; b < 8; ++b) ++counts[b][(p >> (8 * b)) & 0xff];
  }
  SortEntry* in = data;
  SortEntry* out = scratch;
  const uint64_t first = data[0].prefix;
  for (int b = 0; b < 8; ++b) {
    if (counts[b][(first >> (8 * b)) & 0xff] == n) continue;  // constant byte: nothing to do
    size_t offsets[256];
    size_t sum = 0;
    for (int v = 0; v < 256; ++v) {
      offsets[v] = sum;
      sum += counts[b][v];
    }
    const int shift = 8 * b;
    for (size_t i = 0; i < n; ++i) {
      const SortEntry entry = in[i];
      out[offsets[(entry.prefix >> shift) & 0xff]++] = entry;
    }
    std::swap(in, out);
  }
  return in;
}

}  // namespace tungsten
