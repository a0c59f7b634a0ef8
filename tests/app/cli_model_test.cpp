// SPDX-License-Identifier: GPL-3.0-or-later
// The real `mola` binary on ../shared: stories260K's published text, and the shared benchmarks.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "cli_runner.h"

namespace {

namespace fs = std::filesystem;
using mola::test::has;
using mola::test::Result;
using mola::test::run;

fs::path stories() {
  return mola::test::sharedDir() / "models/stories260K";
}

TEST(CliModel, GenerateGreedyPrintsThePublishedText) {
  MOLA_NEED_SHARED_FILE(stories() / "stories260K.bin");
  const Result r =
      run("generate --model " + (stories() / "stories260K.bin").string() + " --tokenizer " +
          (stories() / "tok512.bin").string() + " --max-new-tokens 40 --temperature 0");
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_FALSE(r.out.empty());
  ASSERT_EQ(r.out.back(), '\n');
  const std::string text = r.out.substr(0, r.out.size() - 1),
                    published = mola::test::storiesPublishedText();
  EXPECT_GT(text.size(), 100u);
  EXPECT_EQ(published.substr(0, text.size()), text);
}

TEST(CliModel, DataCheckReadsTheSharedBenchmarks) {
  const fs::path data = mola::test::sharedDir() / "data";
  MOLA_NEED_SHARED_FILE(data / "commonsense_qa/validation.jsonl");
  Result r = run("data check " + (data / "commonsense_qa/validation.jsonl").string());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "records: 1221\n")) << r.out;
  EXPECT_TRUE(has(r.out, "choices: 1221 x 5\n")) << r.out;
  r = run("data check " + (data / "openbookqa/dev.tsv").string());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "format: openbookqa_tsv\nrecords: 500\n")) << r.out;
  r = run("data check " + (data / "glue/RTE/dev.tsv").string());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "format: glue_rte\nrecords: 277\n")) << r.out;
}

TEST(CliModel, EvalOnARealBenchmarkReportsAnInterval) {
  MOLA_NEED_SHARED_FILE(stories() / "stories260K.bin");
  const fs::path arc = mola::test::sharedDir() / "data/arc_easy/validation.jsonl";
  MOLA_NEED_SHARED_FILE(arc);
  const fs::path tsv = mola::test::tempDir("cli_eval_predictions") / "p.tsv";
  const Result r = run("eval --model " + (stories() / "stories260K.bin").string() +
                       " --tokenizer " + (stories() / "tok512.bin").string() + " --data " +
                       arc.string() + " --limit 16 --score text --predictions " + tsv.string());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "n: 16\n")) << r.out;
  std::ifstream in(tsv);
  std::string line;
  int rows = -1;  // the header
  while (std::getline(in, line)) ++rows;
  EXPECT_EQ(rows, 16);
}

}  // namespace
