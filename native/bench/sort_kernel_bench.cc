// The sort kernel alone: radix sort of N (prefix, address) pairs on one core, buffers already
// touched, median of several runs. Also the ceiling of WORKLOADS.md: a plain 8-pass LSD radix
// sort of (u64 key, u64 payload) pairs. Prints one JSON object.
//   tungsten_sort_kernel_bench [pairs] [runs]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "radix_sort.h"

using namespace tungsten;

namespace {

uint64_t splitmix64(uint64_t x) {
  uint64_t z = x + 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// The reference: always 8 passes, no skipping, no tricks.
void plainLsd(SortEntry* data, SortEntry* scratch, size_t n) {
  SortEntry* in = data;
  SortEntry* out = scratch;
  for (int b = 0; b < 8; ++b) {
    size_t counts[256] = {};
    for (size_t i = 0; i < n; ++i) ++counts[(in[i].prefix >> (8 * b)) & 0xff];
    size_t sum = 0;
    for (size_t& c : counts) {
      size_t t = c;
      c = sum;
      sum += t;
    }
    for (size_t i = 0; i < n; ++i) out[counts[(in[i].prefix >> (8 * b)) & 0xff]++] = in[i];
    std::swap(in, out);
  }
}

SortEntry* ours(SortEntry* data, SortEntry* scratch, size_t n) {
  radixSortByPrefix(data, scratch, n);
  return data;
}

template <typename Sort>
double medianSeconds(std::vector<SortEntry>& data, std::vector<SortEntry>& scratch, int runs, Sort sort) {
  std::vector<double> times;
  for (int r = 0; r < runs; ++r) {
    for (size_t i = 0; i < data.size(); ++i) data[i] = {splitmix64(42 + i), i};
    auto start = std::chrono::steady_clock::now();
    SortEntry* sorted = sort(data.data(), scratch.data(), data.size());
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    for (size_t i = 1; i < data.size(); ++i) {
      if (sorted[i - 1].prefix > sorted[i].prefix) {
        std::fprintf(stderr, "not sorted at %zu\n", i);
        std::exit(1);
      }
    }
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 10'000'000;
  const int runs = argc > 2 ? std::atoi(argv[2]) : 5;
  std::vector<SortEntry> data(n), scratch(n);
  std::memset(scratch.data(), 0, n * sizeof(SortEntry));  // touch it: measure sorting, not page faults
  const double oursSeconds = medianSeconds(data, scratch, runs, ours);
  const double plain = medianSeconds(data, scratch, runs, [](SortEntry* d, SortEntry* s, size_t m) {
    plainLsd(d, s, m);
    return d;  // 8 passes: the result is back in `data`
  });
  std::printf("{\"pairs\": %zu, \"runs\": %d, \"radixPairsPerSecond\": %.0f, \"plainLsdPairsPerSecond\": %.0f}\n", n,
              runs, n / oursSeconds, n / plain);
  return 0;
}
