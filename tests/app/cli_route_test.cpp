// SPDX-License-Identifier: GPL-3.0-or-later
// mola route end to end: a trained run's checkpoint through --run and through --model/--adapter
// give the same routing; the tables, the JSON document and misuse.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cli_runner.h"
#include "eval/token_routing.h"
#include "store/run_store.h"

namespace {

namespace fs = std::filesystem;
using mola::test::has;
using mola::test::Result;
using mola::test::run;
using mola::test::slurp;
using mola::test::writeExperiment;

TEST(CliRoute, ARunsCheckpointRoutesEachTokenAndWritesTheDocument) {
  const fs::path dir = mola::test::tempDir("cli_route");
  const std::string db = (dir / "runs.sqlite").string();
  Result r = run("train " + writeExperiment(dir, 6, 6).string() + " --db " + db);
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string prompt = " --prompt 'Which is largest?'";
  r = run("route --run 1 --db " + db + prompt + " --json " + (dir / "run.json").string());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.err, "the checkpoint of step 6")) << r.err;
  // A header with the four routing layers of 2-4-6-8, then a row per token ("<s>" and 17 bytes).
  EXPECT_TRUE(has(r.out, "L1   L2   L3   L4\n")) << r.out;
  EXPECT_TRUE(has(r.out, "'<s>'")) << r.out;
  EXPECT_TRUE(has(r.out, "'?'")) << r.out;
  const mola::TokenRouting traced = mola::tokenRoutingFromJson(slurp(dir / "run.json"), "run.json");
  ASSERT_EQ(traced.tokens.size(), 18u);
  EXPECT_EQ(traced.tokens[1], "W");
  ASSERT_EQ(traced.layers.size(), 4u);
  EXPECT_EQ(traced.layers[3].experts, 8);
  EXPECT_EQ(traced.layers[3].modules.size(), 7u);
  // Each printed cell is the dominant expert of the layer's pooled gates.
  const mola::TokenExpertTable top = pooledTable(traced.layers[3], mola::RoutingQuantity::Gate);
  EXPECT_TRUE(has(r.out, std::to_string(mola::dominantExpert(top.back()) + 1) + "\n")) << r.out;

  // The base with the checkpoint's adapter file routes the same; a fresh adapter does not.
  mola::RunStore store = mola::RunStore::open(db, false);
  const std::string adapter =
      (fs::path(store.checkpoints(1).back().path) / "adapter.safetensors").string();
  r = run("route --model builtin:tiny:3 --device cpu --adapter " + adapter + prompt + " --json -");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, slurp(dir / "run.json"));  // the document alone on stdout
  ASSERT_EQ(run("adapter init --out " + (dir / "fresh.safetensors").string() +
                " --alloc 2-4-6-8 --shape tiny --random-b")
                .code,
            0);
  r = run("route --model builtin:tiny:3 --adapter " + (dir / "fresh.safetensors").string() +
          prompt + " --json -");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out, slurp(dir / "run.json"));

  // --serve: one model load, a line of JSON per request line; a request that cannot be traced
  // gets its error and the service goes on until the input ends.
  std::ofstream(dir / "requests.jsonl") << "{\"prompt\": \"Which is largest?\"}\n"
                                        << "not json\n\n"
                                        << "{\"prompt\": \"\"}\n"
                                        << "{\"text\": \"hi\"}\n"
                                        << "{\"prompt\": \"Which is largest?\"}\n";
  r = run("route --run 1 --db " + db + " --serve <" + (dir / "requests.jsonl").string());
  ASSERT_EQ(r.code, 0) << r.err;
  std::vector<std::string> replies;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) replies.push_back(line);
  ASSERT_EQ(replies.size(), 5u) << r.out;
  EXPECT_EQ(replies[0] + "\n", slurp(dir / "run.json"));
  EXPECT_TRUE(has(replies[1], "{\"error\":\"")) << replies[1];
  EXPECT_EQ(replies[2], "{\"error\":\"the text to trace is empty\"}");
  EXPECT_TRUE(has(replies[3], "{\\\"prompt\\\": TEXT}")) << replies[3];
  EXPECT_EQ(replies[4], replies[0]);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one load:\n" << r.err;
  r = run("route --run 1 --db " + db + " --serve --prompt hi");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.err, "--serve reads the texts from standard input")) << r.err;

  // One layer's table: a column per expert, the probabilities of one module.
  r = run("route --run 1 --db " + db + prompt +
          " --layer 2 --module up_proj --quantity probability");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "e1    e2    e3    e4\n")) << r.out;
  EXPECT_FALSE(has(r.out, "e5")) << r.out;
}

TEST(CliRoute, MisuseIsNamed) {
  const fs::path dir = mola::test::tempDir("cli_route_misuse");
  ASSERT_EQ(run("adapter init --out " + (dir / "a.safetensors").string() +
                " --alloc 2-4-6-8 --shape tiny --modules q_proj,v_proj")
                .code,
            0);
  const std::string with_adapter =
      "route --model builtin:tiny --adapter " + (dir / "a.safetensors").string();
  Result r = run(with_adapter);
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.err, "--prompt TEXT is required")) << r.err;
  r = run(with_adapter + " --prompt hi --module o_proj");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.err, "routes no module 'o_proj' (it routes q_proj, v_proj)")) << r.err;
  r = run(with_adapter + " --prompt hi --layer 9");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.err, "layer 9 has no router")) << r.err;
  r = run(with_adapter + " --prompt hi --quantity loudness");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.err, "--quantity expects gate, probability or selection")) << r.err;
  r = run("route --model builtin:tiny --prompt hi");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "no router to trace")) << r.err;
  r = run("route --run 1 --db " + (dir / "none.sqlite").string() + " --prompt hi");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "no run database at")) << r.err;
  EXPECT_FALSE(fs::exists(dir / "none.sqlite"));
  r = run("route --run 1 --model builtin:tiny --prompt hi");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.err, "--run takes the model")) << r.err;
}

}  // namespace
