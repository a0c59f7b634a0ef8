// SPDX-License-Identifier: GPL-3.0-or-later
// Running tests/scripts/hf_reference.py (gguf-py, transformers) from a C++ test and reading its
// answers: .npy arrays of float32 and JSON lines. The Python is the project's virtual environment
// (MOLA_TEST_PYTHON, else .venv/bin/python in the source folder), which scripts/install-deps makes;
// the real model is the one scripts/fetch-test-models puts in the model cache.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace mola::test {

inline std::filesystem::path referencePython() {
  if (const char* p = std::getenv("MOLA_TEST_PYTHON"); p && *p) return p;
  return std::filesystem::path(MOLA_SOURCE_DIR) / ".venv/bin/python";
}

// The SmolLM2-135M GGUF file: $MOLA_MODEL_CACHE, else ~/.cache/mola-workbench/models.
inline std::filesystem::path smolLm2Gguf() {
  const char* cache = std::getenv("MOLA_MODEL_CACHE");
  const char* home = std::getenv("HOME");
  const std::filesystem::path dir = cache && *cache ? std::filesystem::path(cache)
                                                    : std::filesystem::path(home ? home : "/tmp") /
                                                          ".cache/mola-workbench/models";
  return dir / "SmolLM2-135M-Instruct.Q4_1.gguf";
}

// Whether the model tests must run (CI): a missing model or Python is then a failure.
inline bool modelsRequired() {
  const char* env = std::getenv("MOLA_REQUIRE_MODELS");
  return env && std::string(env) == "1";
}

// Runs hf_reference.py with `args`; returns "" or what went wrong (with its output).
inline std::string runReference(const std::string& args, const std::filesystem::path& log) {
  const std::string cmd = referencePython().string() +
                          " " MOLA_SOURCE_DIR "/tests/scripts/hf_reference.py " + args + " >" +
                          log.string() + " 2>&1";
  if (std::system(cmd.c_str()) == 0) return "";
  std::ostringstream s;
  s << std::ifstream(log).rdbuf();
  return "hf_reference.py " + args + " failed:\n" + s.str();
}

// A .npy file of little-endian float32 in C order (what numpy.save writes for float32).
struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<float> values;
};

inline NpyArray loadNpy(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[8];
  if (!in.read(magic, 8) || std::string(magic + 1, 5) != "NUMPY")
    throw std::runtime_error(path.string() + ": not an .npy file");
  uint32_t header_len = 0;
  if (magic[6] == 1) {
    uint16_t n = 0;
    in.read(reinterpret_cast<char*>(&n), 2);
    header_len = n;
  } else {
    in.read(reinterpret_cast<char*>(&header_len), 4);
  }
  std::string header(header_len, '\0');
  in.read(header.data(), header_len);
  if (header.find("'<f4'") == std::string::npos ||
      header.find("'fortran_order': False") == std::string::npos)
    throw std::runtime_error(path.string() + ": not little-endian float32 in C order: " + header);
  NpyArray a;
  const size_t open = header.find("'shape': (") + 10, close = header.find(')', open);
  std::stringstream dims(header.substr(open, close - open));
  int64_t n = 1;
  for (std::string d; std::getline(dims, d, ',');)
    if (d.find_first_not_of(" ") != std::string::npos) {
      a.shape.push_back(std::stoll(d));
      n *= a.shape.back();
    }
  a.values.resize(size_t(n));
  in.read(reinterpret_cast<char*>(a.values.data()), std::streamsize(n * 4));
  if (!in) throw std::runtime_error(path.string() + ": truncated");
  return a;
}

inline std::vector<nlohmann::json> readJsonLines(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::vector<nlohmann::json> out;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

}  // namespace mola::test

// Skips the test (fails it under MOLA_REQUIRE_MODELS=1) when the reference Python or the model is
// missing; `need_model` false asks for the Python alone.
#define MOLA_NEED_REFERENCE(need_model)                                                    \
  do {                                                                                     \
    std::string missing;                                                                   \
    if (!std::filesystem::exists(::mola::test::referencePython()))                         \
      missing = ::mola::test::referencePython().string() + " (run scripts/install-deps)";  \
    else if ((need_model) && !std::filesystem::exists(::mola::test::smolLm2Gguf()))        \
      missing = ::mola::test::smolLm2Gguf().string() + " (run scripts/fetch-test-models)"; \
    if (!missing.empty()) {                                                                \
      if (::mola::test::modelsRequired()) FAIL() << "missing " << missing;                 \
      GTEST_SKIP() << "missing " << missing;                                               \
    }                                                                                      \
  } while (0)
