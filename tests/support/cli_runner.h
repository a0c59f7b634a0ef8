// SPDX-License-Identifier: GPL-3.0-or-later
// Runs the real `mola` binary (MOLA_CLI) with arguments and captures its exit status and output.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "shared_data.h"

namespace mola::test {

namespace fs = std::filesystem;

struct Result {
  int code = -1;
  std::string out, err;
};

// Each call gets its own output files: ctest runs the CLI tests in parallel. `prefix` goes before
// the program in the shell command: variables ("MOLA_FAULT_INJECT=eval"), a "cd DIR &&", or a
// wrapper such as setpriv.
inline Result run(const std::string& args, const std::string& prefix = "") {
  static int calls = 0;
  const fs::path dir = mola::test::tempDir(
      std::string("cli_") + ::testing::UnitTest::GetInstance()->current_test_info()->name() + "_" +
      std::to_string(++calls));
  const std::string cmd = prefix + " " + std::string(MOLA_CLI) + " " + args + " >" +
                          (dir / "out").string() + " 2>" + (dir / "err").string();
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

// A small, fast experiment on the random built-in model.
inline fs::path writeExperiment(const fs::path& dir, int max_steps, int checkpoint_interval,
                                const std::string& name = "tiny") {
  std::ofstream(dir / (name + ".json")) << R"({
  "name": ")" << name << R"(",
  "model": {"path": "builtin:tiny:3", "device": "cpu"},
  "adapter": {"allocation": "2-4-6-8", "dropout": 0.0},
  "data": {"train": {"path": "synthetic:largest:64:1"}, "eval": {"path": "synthetic:largest:16:2"},
           "prompt_template": "compact", "cutoff": 160},
  "training": {"batch_size": 8, "max_steps": )"
                                        << max_steps << R"(, "optimizer": {"lr": 0.003},
               "schedule": {"warmup_steps": 2}},
  "evaluation": {"interval": 6},
  "checkpoint_interval": )" << checkpoint_interval
                                        << R"(,
  "router_stats_interval": 3
})";
  return dir / (name + ".json");
}

inline std::string slurp(const fs::path& p) {
  std::ostringstream s;
  s << std::ifstream(p).rdbuf();
  return s.str();
}

inline size_t lines(const fs::path& p) {
  std::ifstream in(p);
  size_t n = 0;
  for (std::string line; std::getline(in, line);) ++n;
  return n;
}

// Starts `mola ARGS...` in the background with its output in files; returns the pid.
inline pid_t start(const std::vector<std::string>& args, const fs::path& out, const fs::path& err) {
  const pid_t pid = fork();
  if (pid == 0) {
    freopen(out.c_str(), "w", stdout);
    freopen(err.c_str(), "w", stderr);
    std::vector<char*> argv = {const_cast<char*>(MOLA_CLI)};
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(MOLA_CLI, argv.data());
    _exit(127);
  }
  return pid;
}

// Waits until `ready` holds (reading the database as the GUI would), at most 3 minutes.
template <typename F>
bool waitFor(F ready) {
  for (int i = 0; i < 1800; ++i) {
    if (ready()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

}  // namespace mola::test
