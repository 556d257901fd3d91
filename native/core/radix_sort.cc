#include "radix_sort.h"

#include <cstring>
#include <utility>

namespace tungsten {

namespace {

inline unsigned byteOf(uint64_t prefix, int byte) { return (prefix >> (8 * byte)) & 0xff; }

// LSD over bytes [0, topByte] of a range in `in`, using `out` as scratch; returns where the
// sorted range ends up (in or out).
SortEntry* lsd(SortEntry* in, SortEntry* out, size_t n, int topByte) {
  size_t counts[8][256];
  std::memset(counts, 0, sizeof(size_t) * 256 * (topByte + 1));
  for (size_t i = 0; i < n; ++i) {
    const uint64_t p = in[i].prefix;
    for (int b = 0; b <= topByte; ++b) ++counts[b][byteOf(p, b)];
  }
  const uint64_t first = in[0].prefix;
  for (int b = 0; b <= topByte; ++b) {
    if (counts[b][byteOf(first, b)] == n) continue;  // the same byte everywhere: skip
    size_t offsets[256];
    size_t sum = 0;
    for (int v = 0; v < 256; ++v) {
      offsets[v] = sum;
      sum += counts[b][v];
    }
    for (size_t i = 0; i < n; ++i) {
      const SortEntry entry = in[i];
      out[offsets[byteOf(entry.prefix, b)]++] = entry;
    }
    std::swap(in, out);
  }
  return in;
}

// Sorts the range held in `in` on bytes [0, byte]; `out` is the same-sized scratch range; the
// result must end in `target` (== in or out).
void sortRange(SortEntry* in, SortEntry* out, size_t n, int byte, SortEntry* target) {
  if (n <= 1 || byte < 0) {
    if (target != in && n > 0) std::memcpy(target, in, n * sizeof(SortEntry));
    return;
  }
  if (n <= kInsertionEntries) {
    // Stable insertion sort; the bytes above `byte` are equal within the range.
    for (size_t i = 1; i < n; ++i) {
      const SortEntry entry = in[i];
      size_t j = i;
      while (j > 0 && in[j - 1].prefix > entry.prefix) {
        in[j] = in[j - 1];
        --j;
      }
      in[j] = entry;
    }
    if (target != in) std::memcpy(target, in, n * sizeof(SortEntry));
    return;
  }
  if (n <= kLsdEntries) {
    SortEntry* sorted = lsd(in, out, n, byte);
    if (sorted != target) std::memcpy(target, sorted, n * sizeof(SortEntry));
    return;
  }
  size_t counts[256] = {};
  for (size_t i = 0; i < n; ++i) ++counts[byteOf(in[i].prefix, byte)];
  if (counts[byteOf(in[0].prefix, byte)] == n) {
    sortRange(in, out, n, byte - 1, target);  // this byte never varies here
    return;
  }
  size_t offsets[256];
  size_t sum = 0;
  for (int v = 0; v < 256; ++v) {
    offsets[v] = sum;
    sum += counts[v];
  }
  size_t starts[256];
  std::memcpy(starts, offsets, sizeof starts);
  for (size_t i = 0; i < n; ++i) {
    const SortEntry entry = in[i];
    out[offsets[byteOf(entry.prefix, byte)]++] = entry;
  }
  // Each bucket now lives in `out`; `in` is its scratch; it must end at target + start.
  for (int v = 0; v < 256; ++v) {
    if (counts[v] == 0) continue;
    const size_t start = starts[v];
    sortRange(out + start, in + start, counts[v], byte - 1, target + start);
  }
}

}  // namespace

SortEntry* radixSortByPrefix(SortEntry* data, SortEntry* scratch, size_t n) {
  if (n < 2) return data;
  if (n <= kLsdEntries) return lsd(data, scratch, n, 7);
  // A large sort ends in `data`: the final copies of wrong-side ranges are in-cache memcpys.
  sortRange(data, scratch, n, 7, data);
  return data;
}

}  // namespace tungsten
