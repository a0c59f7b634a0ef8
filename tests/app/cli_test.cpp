// SPDX-License-Identifier: GPL-3.0-or-later
// End-to-end tests of the real `mola` binary: output, exit codes and the files it writes.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "cli_runner.h"

namespace {

namespace fs = std::filesystem;
using mola::test::has;
using mola::test::Result;
using mola::test::run;

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

TEST(Cli, AllocCountsMoeLora) {
  // tiny: d 128, ffn 344. Each module's experts share rank 24: 4 layers * 24 * (4*256 + 3*472) =
  // 234,240; the task embedding 3 * 5 and one gate per layer, (2+4+6+8) * 5: 115.
  Result r = run("alloc 2-4-6-8 --shape tiny --method moelora --rank 24 --tasks 3 --task-dim 5");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out,
                  "trainable parameters: 234,355 (experts 234,240 + task embedding and "
                  "gates 115)"))
      << r.out;
  EXPECT_FALSE(has(r.out, "top-k")) << "MOELoRA has no top-K\n" << r.out;
  r = run("alloc 2-4-6-8 --shape tiny --method moelora --rank 8");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.err, "--rank 8 cannot be shared among the 6 experts of layer 3")) << r.err;
  r = run("alloc 2-4-6-8 --method lora2");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.err, "--method must be mola or moelora")) << r.err;
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

TEST(Cli, GenerateWithTheBuiltinModelIsSeededAndKeepsLogsOffStdout) {
  Result a =
      run("generate --model builtin:tiny --prompt Hello --max-new-tokens 8 --temperature 1 "
          "--seed 5");
  ASSERT_EQ(a.code, 0) << a.err;
  EXPECT_TRUE(has(a.err, "loading builtin:tiny")) << a.err;
  EXPECT_FALSE(has(a.out, "loading")) << a.out;
  Result b =
      run("generate --model builtin:tiny --prompt Hello --max-new-tokens 8 --temperature 1 "
          "--seed 5");
  EXPECT_EQ(a.out, b.out);
  Result bad = run("generate --model /nonexistent/model");
  EXPECT_EQ(bad.code, 1);
  EXPECT_TRUE(has(bad.err, "/nonexistent/model: no such file or directory")) << bad.err;
}

TEST(Cli, HelpAfterACommandShowsThatCommandsUsage) {
  Result r = run("eval --help");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "  mola eval --model PATH --data FILE")) << r.out;
  EXPECT_TRUE(has(r.out, "Scores a benchmark")) << r.out;
  EXPECT_FALSE(has(r.out, "mola train")) << r.out;
  r = run("runs -h");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "  mola runs list")) << r.out;
  EXPECT_TRUE(has(r.out, "show ID")) << r.out;
  EXPECT_FALSE(has(r.out, "mola eval")) << r.out;
  r = run("adapter init --out x --help");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "  mola adapter inspect FILE")) << r.out;
  EXPECT_FALSE(has(r.out, "mola alloc")) << r.out;
}

TEST(Cli, DataCheckNamesTheBadLines) {
  const fs::path dir = mola::test::tempDir("cli_data_check");
  std::ofstream(dir / "q.jsonl")
      << R"({"query": "Which is largest?", "choices": ["1", "9", "4"], "gold": 1})"
      << "\n"
      << R"({"query": "Pick red", "choices": ["red", "blue"], "gold": 0})"
      << "\n"
      << R"({"query": "Broken", "choices": ["a", "b"], "gold": 5})"
      << "\n"
      << R"({"query": "Pick blue", "choices": ["red", "blue"], "gold": 1})"
      << "\n";
  Result r = run("data check " + (dir / "q.jsonl").string());
  EXPECT_EQ(r.code, 1) << "a skipped row is a non-zero exit";
  EXPECT_TRUE(has(r.out, "format: flat_jsonl")) << r.out;
  EXPECT_TRUE(has(r.out, "records: 3")) << r.out;
  EXPECT_TRUE(has(r.out, "choices: 2 x 2 1 x 3")) << r.out;
  EXPECT_TRUE(has(r.out, "Question: Which is largest?\nOptions: (A) 1 (B) 9 (C) 4")) << r.out;
  EXPECT_TRUE(has(r.out, "Answer: The answer is B.")) << r.out;
  EXPECT_TRUE(has(r.err, (dir / "q.jsonl").string() + ":3:")) << r.err;
  EXPECT_TRUE(has(r.err, "gold")) << r.err;

  std::ofstream(dir / "garbage.jsonl") << "not json\nnor this\n";
  r = run("data check " + (dir / "garbage.jsonl").string());
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "garbage.jsonl")) << r.err;
}

TEST(Cli, EvalScoresSyntheticQuestionsWithTheBuiltinModel) {
  Result r = run("eval --model builtin:tiny --data synthetic:largest:12:3 --batch 4");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "protocol: likelihood\nn: 12\naccuracy: ")) << r.out;
  EXPECT_TRUE(has(r.out, "(95% CI ")) << r.out;
  EXPECT_TRUE(has(r.err, "scoring 12/12")) << r.err;
  r =
      run("eval --model builtin:tiny --data synthetic:largest:4:3 --protocol generate "
          "--max-new-tokens 4");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "unanswered: ")) << r.out;
  r = run("eval --model builtin:tiny --data synthetic:largest --protocol vote");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "unknown protocol 'vote'")) << r.err;
}

}  // namespace
