// SPDX-License-Identifier: GPL-3.0-or-later
// End-to-end tests of the real `mola` binary: output, exit codes and the files it writes.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "shared_data.h"

namespace {

namespace fs = std::filesystem;

struct Result {
  int code = -1;
  std::string out, err;
};

// Each call gets its own output files: ctest runs the CLI tests in parallel.
Result run(const std::string& args) {
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

bool has(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

TEST(Cli, AllocShowsTheLlama2BudgetOfThePaper) {
  Result r = run("alloc 2-4-6-8");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "inverted-triangle")) << r.out;
  EXPECT_TRUE(has(r.out, "trainable parameters: 105,635,840")) << r.out;
  EXPECT_TRUE(has(r.out, "6,738,415,616 base")) << r.out;
  EXPECT_TRUE(has(r.out, "layer  32 \u2588\u2588\u2588\u2588\u2588\u2588\u2588\u2588 8")) << r.out;
  EXPECT_TRUE(has(r.out, "layer   1 \u2588\u2588 2")) << r.out;

  r = run("alloc square");
  EXPECT_TRUE(has(r.out, "trainable parameters: 105,635,840")) << r.out;
  r = run("alloc uniform-1 --rank 64 --top-k 1");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "trainable parameters: 159,907,840 (experts 159,907,840 + routers 0)"))
      << r.out;
}

TEST(Cli, AllocErrorsNameTheLayer) {
  Result r = run("alloc 2-4-6-8 --top-k 3");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "top_k = 3 exceeds the 2 experts of layer 1 of 32")) << r.err;
  r = run("alloc 2,4,x --shape stories260k");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "lists 3 layers but the model has 5")) << r.err;
  r = run("alloc 2,4,x,1,1 --shape stories260k");
  EXPECT_TRUE(has(r.err, "layer 3 of 5: 'x' is not a whole number")) << r.err;
  r = run("alloc 2-4-6-8 --shape huge");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.err, "unknown shape 'huge'")) << r.err;
  r = run("frobnicate");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.err, "unknown command 'frobnicate'")) << r.err;
}

TEST(Cli, AdapterInitThenInspect) {
  const fs::path dir = mola::test::tempDir("cli_adapter");
  const std::string file = (dir / "a.safetensors").string();
  Result r = run("adapter init --out " + file + " --alloc 2-4-6-8 --shape tiny --random-b");
  ASSERT_EQ(r.code, 0) << r.err;
  r = run("adapter inspect " + file + " --shape tiny");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "allocation: inverted-triangle (2,4,6,8)")) << r.out;
  EXPECT_TRUE(has(r.out, "rank: 8  alpha: 16  top-k: 2")) << r.out;
  // tiny: d 128, ffn 344: 20 experts * 8 * (4*256 + 3*472) + 20 * (6*128 + 344) routers = 412,640
  EXPECT_TRUE(has(r.out, "parameters: 412,640")) << r.out;

  // A fresh adapter has B = 0 in every layer.
  r = run("adapter init --out " + file + " --alloc 1 --shape tiny --modules q,v");
  ASSERT_EQ(r.code, 0) << r.err;
  r = run("adapter inspect " + file);
  EXPECT_TRUE(has(r.out, "top-k: 1")) << r.out;
  EXPECT_TRUE(has(r.out, "layer   1    1  0\n")) << r.out;

  fs::resize_file(file, fs::file_size(file) - 7);
  r = run("adapter inspect " + file);
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, file)) << r.err;
  EXPECT_TRUE(has(r.err, "truncated")) << r.err;
}

}  // namespace
