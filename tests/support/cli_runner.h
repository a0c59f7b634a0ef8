// SPDX-License-Identifier: GPL-3.0-or-later
// Runs the real `mola` binary (MOLA_CLI) with arguments and captures its exit status and output.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "shared_data.h"

namespace mola::test {

namespace fs = std::filesystem;

struct Result {
  int code = -1;
  std::string out, err;
};

// Each call gets its own output files: ctest runs the CLI tests in parallel.
inline Result run(const std::string& args) {
  static int calls = 0;
  const fs::path dir = mola::test::tempDir(
      std::string("cli_") + ::testing::UnitTest::GetInstance()->current_test_info()->name() + "_" +
      std::to_string(++calls));
  const std::string cmd = std::string(MOLA_CLI) + " " + args + " >" + (dir / "out").string() +
                          " 2>" + (dir / "err").string();
  const int status = std::system(cmd.c_str());
  Result r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  auto slurp = [](const fs::path& p) {
    std::ostringstream s;
    s << std::ifstream(p).rdbuf();
    return s.str();
  };
  r.out = slurp(dir / "out");
  r.err = slurp(dir / "err");
  return r;
}

inline bool has(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

}  // namespace mola::test
