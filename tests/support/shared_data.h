// SPDX-License-Identifier: GPL-3.0-or-later
// Locating ../shared in tests: skip with a message locally, fail when MOLA_REQUIRE_SHARED=1 (CI).
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace mola::test {

inline std::filesystem::path sharedDir() {
  if (const char* env = std::getenv("MOLA_SHARED_DIR"); env && *env) return env;
  return MOLA_SHARED_DIR_DEFAULT;
}

inline bool sharedRequired() {
  const char* env = std::getenv("MOLA_REQUIRE_SHARED");
  return env && std::string(env) == "1";
}

// The greedy continuation from BOS published in ../shared/models/stories260K/README.md: its
// indented block, lines joined with newlines.
inline std::string storiesPublishedText() {
  std::ifstream in(sharedDir() / "models/stories260K/README.md");
  std::string line, text;
  bool inside = false;
  while (std::getline(in, line)) {
    if (line.rfind("    ", 0) == 0) {
      if (inside) text.push_back('\n');
      text.append(line, 4, std::string::npos);
      inside = true;
    } else if (inside && !line.empty()) {
      break;
    }
  }
  return text;
}

// A fresh, empty directory for one test's files.
inline std::filesystem::path tempDir(const std::string& name) {
  std::filesystem::path dir = std::filesystem::path(MOLA_TEST_TMPDIR) / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace mola::test

// Skips the test (or fails it under MOLA_REQUIRE_SHARED=1) when a ../shared file is missing.
#define MOLA_NEED_SHARED_FILE(path)                                                         \
  do {                                                                                      \
    if (!std::filesystem::exists(path)) {                                                   \
      if (::mola::test::sharedRequired())                                                   \
        FAIL() << "missing " << (path) << " (MOLA_REQUIRE_SHARED=1: ../shared is needed)";  \
      GTEST_SKIP() << "missing " << (path) << "; set MOLA_SHARED_DIR to the shared folder"; \
    }                                                                                       \
  } while (0)
