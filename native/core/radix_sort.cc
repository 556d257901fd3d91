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
  // In-place partition (ska_sort's variant of American flag sort): walk each bucket's unplaced
  // positions in order and swap every entry straight to the next free slot of its own bucket.
  // Each swap places one entry; unlike following a cycle, the next load does not depend on the
  // last swap, so the cache misses of many swaps overlap. Repeat over the buckets that still
  // hold misplaced entries. A bucket's next free slot never passes the position being visited
  // (it starts there and moves at most once per step), so placed entries are never revisited.
  uint8_t remaining[256];
  int numRemaining = 0;
  for (int v = 0; v < 256; ++v) {
    if (counts[v] > 0) remaining[numRemaining++] = static_cast<uint8_t>(v);
  }
  while (numRemaining > 0) {
    int kept = 0;
    for (int r = 0; r < numRemaining; ++r) {
      const unsigned v = remaining[r];
      const size_t end = ends[v];
      for (size_t i = heads[v]; i < end; ++i) {
        const unsigned digit = byteOf(data[i].prefix, byte);
        std::swap(data[i], data[heads[digit]++]);
      }
      if (heads[v] < ends[v]) remaining[kept++] = static_cast<uint8_t>(v);
    }
    numRemaining = kept;
  }
  size_t start = 0;
  for (int v = 0; v < 256; ++v) {
    if (counts[v] > 1) sortRange(data + start, scratch, counts[v], byte - 1);
    start += counts[v];
  }
}

}  // namespace

void radixSortByPrefix(SortEntry* data, SortEntry* scratch, size_t n) { sortRange(data, scratch, n, 7); }

}  // namespace tungsten
