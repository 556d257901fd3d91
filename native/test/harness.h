// A minimal unit-test harness for native/core (nothing can be downloaded, so no GoogleTest).
// TEST registers a case; CHECK* record a failure and carry on; the runner prints one line per
// failure and ends with the plain "N passed, N failed" line that CI reads.
#pragma once

#include <cstdint>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "errors.h"

namespace harness {

struct Case {
  const char* name;
  std::function<void()> body;
};

inline std::vector<Case>& registry() {
  static std::vector<Case> cases;
  return cases;
}

inline int& currentFailures() {
  static int failures = 0;
  return failures;
}

struct Register {
  Register(const char* name, std::function<void()> body) { registry().push_back({name, body}); }
};

inline void fail(const char* file, int line, const std::string& what) {
  ++currentFailures();
  std::cerr << "  " << file << ":" << line << ": " << what << "\n";
}

}  // namespace harness

#define TEST(name)                                                  \
  static void name();                                               \
  static harness::Register name##_registration(#name, name);        \
  static void name()

#define CHECK(cond) \
  do { if (!(cond)) harness::fail(__FILE__, __LINE__, "CHECK(" #cond ")"); } while (0)

#define CHECK_EQ(a, b)                                                              \
  do {                                                                              \
    auto va_ = (a);                                                                 \
    auto vb_ = (b);                                                                 \
    if (!(va_ == vb_)) {                                                            \
      std::ostringstream os_;                                                       \
      os_ << "CHECK_EQ(" #a ", " #b "): " << +va_ << " != " << +vb_;                 \
      harness::fail(__FILE__, __LINE__, os_.str());                                 \
    }                                                                               \
  } while (0)

// Runs `statement` and checks that it throws tungsten::Error with the given code.
#define CHECK_THROWS_CODE(statement, expectedCode)                                          \
  do {                                                                                      \
    bool threw_ = false;                                                                    \
    try {                                                                                   \
      statement;                                                                            \
    } catch (const tungsten::Error& e_) {                                                   \
      threw_ = true;                                                                        \
      if (e_.code() != (expectedCode))                                                      \
        harness::fail(__FILE__, __LINE__,                                                   \
                      std::string("wrong error code ") + tungsten::errorCodeName(e_.code()) + \
                          ": " + e_.what());                                                \
    }                                                                                       \
    if (!threw_) harness::fail(__FILE__, __LINE__, "expected " #statement " to throw");     \
  } while (0)
