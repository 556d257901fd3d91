#include "radix_sort.h"

#include <cstring>
#include <utility>

namespace tungsten {

namespace {

inline unsigned byteOf(uint64_t prefix, int byte) { return (prefix >> (8 * byte)) & 0xff; }

void insertionSort(SortEntry* data, size_t n) {
  for (size_t i = 1; i < n; ++i) {
    const SortEntry entry = data[i];
    size_t j = i;
    while (j > 0 && data[j - 1].prefix > entry.prefix) {
      data[j] = data[j - 1];
      --j;
    }
    data[j] = entry;
  }
}

// LSD over bytes [0, topByte] of data[0, n) with scratch[0, n); the result ends in `data`.
void lsd(SortEntry* data, SortEntry* scratch, size_t n, int topByte) {
  if (n <= kInsertionEntries) {
    insertionSort(data, n);
    return;
  }
  size_t counts[8][256];
  std::memset(counts, 0, sizeof(size_t) * 256 * (topByte + 1));
  for (size_t i = 0; i < n; ++i) {
    const uint64_t p = data[i].prefix;
    for (int b = 0; b <= topByte; ++b) ++counts[b][byteOf(p, b)];
  }
  SortEntry* in = data;
  SortEntry* out = scratch;
  const uint64_t first = data[0].prefix;
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
  if (in != data) std::memcpy(data, in, n * sizeof(SortEntry));
}

// Sorts data[0, n) on bytes [0, byte]: in-place MSD partitions down to LSD-sized ranges.
void sortRange(SortEntry* data, SortEntry* scratch, size_t n, int byte) {
  if (n <= 1 || byte < 0) return;
  if (n <= kLsdEntries) {
    lsd(data, scratch, n, byte);
    return;
  }
  size_t counts[256] = {};
  for (size_t i = 0; i < n; ++i) ++counts[byteOf(data[i].prefix, byte)];
  if (counts[byteOf(data[0].prefix, byte)] == n) {
    sortRange(data, scratch, n, byte - 1);  // this byte never varies here
    return;
  }
  size_t heads[256];
  size_t ends[256];
  size_t sum = 0;
  for (int v = 0; v < 256; ++v) {
    heads[v] = sum;
    sum += counts[v];
    ends[v] = sum;
  }
  // American flag sort: each entry is swapped straight into its bucket.
  for (int v = 0; v < 256; ++v) {
    while (heads[v] < ends[v]) {
      SortEntry entry = data[heads[v]];
      unsigned digit = byteOf(entry.prefix, byte);
      while (digit != static_cast<unsigned>(v)) {
        std::swap(entry, data[heads[digit]++]);
        digit = byteOf(entry.prefix, byte);
      }
      data[heads[v]++] = entry;
    }
  }
  size_t start = 0;
  for (int v = 0; v < 256; ++v) {
    if (counts[v] > 1) sortRange(data + start, scratch, counts[v], byte - 1);
    start += counts[v];
  }
}

// Out-of-place MSD: the range is in `in`, `out` is a scratch range of the same size, and the
// sorted range must end in `target` (in or out).
void sortRangeOutOfPlace(SortEntry* in, SortEntry* out, size_t n, int byte, SortEntry* target) {
  if (n <= kLsdEntries || byte < 0) {
    // `out` is scratch for the LSD passes; lsd() leaves the result in `in`.
    if (byte >= 0 && n > 1) lsd(in, out, n, byte);
    if (target != in && n > 0) std::memcpy(target, in, n * sizeof(SortEntry));
    return;
  }
  size_t counts[256] = {};
  for (size_t i = 0; i < n; ++i) ++counts[byteOf(in[i].prefix, byte)];
  if (counts[byteOf(in[0].prefix, byte)] == n) {
    sortRangeOutOfPlace(in, out, n, byte - 1, target);
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
  // Each bucket now lives in `out`, with `in` as its scratch.
  for (int v = 0; v < 256; ++v) {
    if (counts[v] == 0) continue;
    const size_t start = starts[v];
    sortRangeOutOfPlace(out + start, in + start, counts[v], byte - 1, target + start);
  }
}

}  // namespace

void radixSortByPrefix(SortEntry* data, SortEntry* scratch, size_t n, size_t scratchEntries) {
  if (n > kLsdEntries && n <= kOutOfPlaceEntries && scratchEntries >= n) {
    sortRangeOutOfPlace(data, scratch, n, 7, data);
  } else {
    sortRange(data, scratch, n, 7);
  }
}

}  // namespace tungsten
