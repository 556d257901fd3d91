// Test tables shared by the native tests: an int64 key column and a utf8 payload column, both
// nullable, as Arrow-shaped buffers with a BatchView over them.
#pragma once

#include <unistd.h>

#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "column_types.h"

namespace tungsten::test {

inline std::string tempPath(const std::string& name) {
  return "/tmp/tungsten-core-test-" + std::to_string(::getpid()) + "-" + name;
}

inline bool fileExists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

// A two-column test table: key (int64, nullable) and payload (utf8, nullable).
struct Table {
  std::vector<std::optional<int64_t>> keys;
  std::vector<std::optional<std::string>> payloads;
};

struct OwnedBatch {
  std::vector<int64_t> keyValues;
  std::vector<uint8_t> keyValidity;
  std::vector<int32_t> offsets;
  std::string bytes;
  std::vector<uint8_t> payloadValidity;
  BatchView view;
};

inline OwnedBatch makeBatch(const Table& t, size_t from, size_t to) {
  OwnedBatch b;
  const size_t n = to - from;
  b.keyValidity.assign((n + 7) / 8, 0);
  b.payloadValidity.assign((n + 7) / 8, 0);
  b.offsets.push_back(0);
  for (size_t i = 0; i < n; ++i) {
    const auto& k = t.keys[from + i];
    b.keyValues.push_back(k.value_or(0));
    if (k) b.keyValidity[i / 8] |= uint8_t(1u << (i % 8));
    const auto& p = t.payloads[from + i];
    if (p) {
      b.payloadValidity[i / 8] |= uint8_t(1u << (i % 8));
      b.bytes += *p;
    }
    b.offsets.push_back(static_cast<int32_t>(b.bytes.size()));
  }
  b.view.numRows = n;
  ColumnView key{};
  key.type = {PhysicalType::kInt, 8};
  key.values = reinterpret_cast<const uint8_t*>(b.keyValues.data());
  key.validity = b.keyValidity.data();
  ColumnView payload{};
  payload.type = {PhysicalType::kVarBinary, 4};
  payload.values = reinterpret_cast<const uint8_t*>(b.bytes.data());
  payload.offsets = reinterpret_cast<const uint8_t*>(b.offsets.data());
  payload.validity = b.payloadValidity.data();
  b.view.columns = {key, payload};
  return b;
}

inline Table randomTable(uint32_t seed, size_t n, int64_t keyRange, double nullRate) {
  std::mt19937_64 rng(seed);
  Table t;
  std::uniform_real_distribution<double> unit(0, 1);
  for (size_t i = 0; i < n; ++i) {
    if (unit(rng) < nullRate) t.keys.push_back(std::nullopt);
    else t.keys.push_back(static_cast<int64_t>(rng() % static_cast<uint64_t>(keyRange)) - keyRange / 2);
    if (unit(rng) < nullRate) {
      t.payloads.push_back(std::nullopt);
    } else {
      std::string s(rng() % 20, 'a');
      for (char& c : s) c = static_cast<char>('a' + rng() % 26);
      t.payloads.push_back(s);
    }
  }
  return t;
}

}  // namespace tungsten::test
