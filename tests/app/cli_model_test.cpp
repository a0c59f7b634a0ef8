// SPDX-License-Identifier: GPL-3.0-or-later
// The real `mola` binary on ../shared: stories260K's published text, and the shared benchmarks.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

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
  // One row per example; `predicted` is the choice of highest log-likelihood, all of them below 0.
  std::ifstream in(tsv);
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  EXPECT_EQ(line, "example_id\tpredicted\tgold\tcorrect\tpredicted_norm\tlog_likelihoods");
  int rows = 0;
  while (std::getline(in, line)) {
    ++rows;
    std::vector<std::string> fields;
    std::stringstream row(line);
    for (std::string f; std::getline(row, f, '\t');) fields.push_back(f);
    ASSERT_EQ(fields.size(), 6u) << line;
    std::vector<double> ll;
    std::stringstream numbers(fields[5]);
    for (std::string f; std::getline(numbers, f, ',');) ll.push_back(std::stod(f));
    ASSERT_GE(ll.size(), 3u) << line;
    for (double v : ll) EXPECT_LT(v, 0.0) << line;
    EXPECT_EQ(std::stoi(fields[1]), int(std::max_element(ll.begin(), ll.end()) - ll.begin()))
        << line;
    EXPECT_EQ(fields[3], std::stoi(fields[1]) == std::stoi(fields[2]) ? "1" : "0") << line;
  }
  EXPECT_EQ(rows, 16);

  // The generate protocol's rows carry the generated text, escaped to stay one line each.
  const Result g =
      run("eval --model " + (stories() / "stories260K.bin").string() + " --tokenizer " +
          (stories() / "tok512.bin").string() + " --data " + arc.string() +
          " --limit 3 --protocol generate --predictions " + tsv.string());
  ASSERT_EQ(g.code, 0) << g.err;
  std::ifstream gen(tsv);
  ASSERT_TRUE(std::getline(gen, line));
  EXPECT_EQ(line, "example_id\tpredicted\tgold\tcorrect\tgenerated");
  rows = 0;
  while (std::getline(gen, line)) {
    ++rows;
    EXPECT_EQ(std::count(line.begin(), line.end(), '\t'), 4) << line;
    EXPECT_GT(line.size(), line.rfind('\t') + 1) << "no generated text: " << line;
  }
  EXPECT_EQ(rows, 3);
}

}  // namespace
