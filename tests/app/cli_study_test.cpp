// SPDX-License-Identifier: GPL-3.0-or-later
// mola study, queue, advise and runs tag/note end to end with the real CLI on real SQLite files:
// a study trained to the end, its table against the scores the store holds, a study stopped and
// started again (nothing repeated), two workers on one queue, and the advisor on a pilot run.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "cli_runner.h"
#include "store/run_store.h"

namespace mola {
namespace {

namespace fs = std::filesystem;
using test::has;

// A study of the random tiny model: 3 variants x the seeds, `steps` steps each (a second or two
// for 6 steps).
fs::path writeStudy(const fs::path& dir, int steps, const std::string& seeds = "[1, 2]") {
  std::ofstream(dir / "study.json") << R"({
  "name": "tiny-study",
  "base": {"name": "tiny", "model": {"path": "builtin:tiny:3", "device": "cpu"},
           "adapter": {"allocation": "2-4-6-8", "dropout": 0.0},
           "data": {"train": {"path": "synthetic:largest:64:1"},
                    "eval": {"path": "synthetic:largest:24:2"},
                    "prompt_template": "compact", "cutoff": 160},
           "training": {"batch_size": 8, "max_steps": )"
                                    << steps << R"(, "optimizer": {"lr": 0.003},
                        "schedule": {"warmup_steps": 2}},
           "evaluation": {"interval": 3}, "checkpoint_interval": 3,
           "router_stats_interval": 3},
  "allocations": ["2-4-6-8", "square", "lora-equal"],
  "seeds": )" << seeds << R"(,
  "baseline": "square"
})";
  return dir / "study.json";
}

std::string dbArg(const fs::path& db) {
  return "--db " + db.string();
}

// One CSV line's fields (RFC 4180 quoting).
std::vector<std::string> csvFields(const std::string& line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted && c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
      fields.back() += '"', ++i;
    } else if (c == '"') {
      quoted = !quoted;
    } else if (c == ',' && !quoted) {
      fields.emplace_back();
    } else {
      fields.back() += c;
    }
  }
  return fields;
}

// The CSV table's rows by variant, as column -> text.
std::map<std::string, std::map<std::string, std::string>> csvRows(const std::string& csv) {
  std::istringstream in(csv);
  std::string line;
  std::getline(in, line);
  const std::vector<std::string> head = csvFields(line);
  std::map<std::string, std::map<std::string, std::string>> rows;
  while (std::getline(in, line)) {
    const std::vector<std::string> cells = csvFields(line);
    EXPECT_EQ(cells.size(), head.size()) << line;
    std::map<std::string, std::string> row;
    for (size_t i = 0; i < head.size() && i < cells.size(); ++i) row[head[i]] = cells[i];
    rows[row["variant"]] = row;
  }
  return rows;
}

TEST(CliStudy, RunsEveryVariantAndSeedAndSummarisesThemFromTheStore) {
  const fs::path dir = test::tempDir("cli_study_full");
  const fs::path db = dir / "runs.sqlite";
  const test::Result r = test::run("study run " + writeStudy(dir, 6).string() + " " + dbArg(db));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.err, "3 variants x 2 seeds; 6 queued now")) << r.err;
  EXPECT_TRUE(has(r.out, "(baseline)")) << r.out;

  // Independently of the report: each run's last score, straight from the store.
  const RunStore store = RunStore::openReadOnly(db);
  std::map<std::string, std::vector<double>> finals;
  std::map<std::string, std::map<int64_t, double>> by_seed;
  ASSERT_EQ(store.listRuns().size(), 6u);
  for (const RunRecord& run : store.listRuns()) {
    EXPECT_EQ(run.status, RunStatus::Completed) << run.name;
    EXPECT_EQ(run.study, 1);
    const auto scores = store.evalScores(run.id);
    ASSERT_EQ(scores.size(), 2u) << run.name;  // steps 3 and 6
    finals[run.variant].push_back(scores.back().accuracy);
    const int64_t seed = nlohmann::json::parse(run.config_json)["training"]["seed"];
    by_seed[run.variant][seed] = scores.back().accuracy;
  }
  EXPECT_EQ(finals.size(), 3u);
  const test::Result csv = test::run("study show 1 --csv " + dbArg(db));
  ASSERT_EQ(csv.code, 0) << csv.err;
  const auto rows = csvRows(csv.out);
  ASSERT_EQ(rows.size(), 3u) << csv.out;
  for (const auto& [variant, values] : finals) {
    const auto& row = rows.at(variant);
    EXPECT_NEAR(std::stod(row.at("final_mean")), (values[0] + values[1]) / 2, 1e-12) << variant;
    EXPECT_EQ(row.at("completed"), "2");
    EXPECT_EQ(row.at("planned"), "2");
    if (variant == "square") {
      EXPECT_EQ(row.at("final_diff"), "");
      continue;
    }
    const double diff =
        (by_seed[variant][1] - by_seed["square"][1] + by_seed[variant][2] - by_seed["square"][2]) /
        2;
    EXPECT_NEAR(std::stod(row.at("final_diff")), diff, 1e-12) << variant;
  }
  EXPECT_EQ(rows.at("square").at("method"), "mola");
  EXPECT_EQ(rows.at("square").at("allocation"), "5,5,5,5");
  // plain LoRA at the parameters of 2-4-6-8: its count is within half a rank of MoLA's.
  const auto lora = std::find_if(rows.begin(), rows.end(),
                                 [](const auto& kv) { return kv.first.rfind("lora-r", 0) == 0; });
  ASSERT_NE(lora, rows.end());
  EXPECT_EQ(lora->second.at("method"), "lora");
  const double p_lora = std::stod(lora->second.at("parameters"));
  const double p_mola = std::stod(rows.at("2-4-6-8").at("parameters"));
  const int rank = std::stoi(lora->first.substr(6));
  EXPECT_LT(std::abs(p_lora - p_mola), p_lora / rank / 2 + 1);

  const test::Result md = test::run("study show tiny-study --markdown " + dbArg(db));
  EXPECT_TRUE(has(md.out, "| variant | seeds |")) << md.out;
  EXPECT_TRUE(has(md.out, "| square | 2/2 |")) << md.out;
  const test::Result tex = test::run("study show 1 --latex --baseline 2-4-6-8 " + dbArg(db));
  EXPECT_TRUE(has(tex.out, "\\begin{tabular}")) << tex.out;
  EXPECT_TRUE(has(tex.out, "final vs 2-4-6-8")) << tex.out;
  const test::Result text = test::run("study show 1 --runs " + dbArg(db));
  EXPECT_TRUE(has(text.out, "6 runs: 6 completed, 0 waiting")) << text.out;
  EXPECT_TRUE(has(text.out, "synthetic:largest:24:2 (n 24)")) << text.out;
  const test::Result bad = test::run("study show 1 --baseline diamond " + dbArg(db));
  EXPECT_EQ(bad.code, 1);
  EXPECT_TRUE(has(bad.err, "no variant 'diamond' (its variants: 2-4-6-8, square, lora-r"))
      << bad.err;
  const test::Result list = test::run("study list " + dbArg(db));
  EXPECT_TRUE(has(list.out, "tiny-study")) << list.out;

  // Again: nothing new to train.
  const test::Result again =
      test::run("study run " + (dir / "study.json").string() + " " + dbArg(db));
  EXPECT_EQ(again.code, 0) << again.err;
  EXPECT_TRUE(has(again.err, "0 queued now, 6 queued before")) << again.err;
  EXPECT_EQ(RunStore::openReadOnly(db).listRuns().size(), 6u);
  // One more seed in the file: only its runs are trained.
  writeStudy(dir, 6, "[1, 2, 3]");
  const test::Result more =
      test::run("study run " + (dir / "study.json").string() + " " + dbArg(db));
  EXPECT_EQ(more.code, 0) << more.err;
  EXPECT_TRUE(has(more.err, "3 queued now, 6 queued before")) << more.err;
  EXPECT_EQ(RunStore::openReadOnly(db).listRuns().size(), 9u);
  EXPECT_TRUE(has(more.out, "3/3")) << more.out;
}

TEST(CliStudy, AChangedVariantIsRefusedUntilItIsRerun) {
  const fs::path dir = test::tempDir("cli_study_rerun");
  const fs::path db = dir / "runs.sqlite";
  const auto write = [&](const std::string& lr) {
    std::ofstream(dir / "study.json") << R"({"name": "rerun",
      "base": {"model": {"path": "builtin:tiny:3", "device": "cpu"},
               "data": {"train": {"path": "synthetic:largest:64:1"}, "prompt_template": "compact",
                        "cutoff": 160},
               "training": {"batch_size": 8, "max_steps": 3}},
      "allocations": ["2-4-6-8"],
      "variants": [{"name": "v", "set": {"training.optimizer.lr": )"
                                      << lr << R"(}}], "seeds": [1]})";
  };
  write("0.003");
  ASSERT_EQ(test::run("study run " + (dir / "study.json").string() + " " + dbArg(db)).code, 0);
  write("0.002");
  const test::Result refused =
      test::run("study run " + (dir / "study.json").string() + " " + dbArg(db));
  EXPECT_EQ(refused.code, 1);
  EXPECT_TRUE(has(refused.err, "already has variant 'v' with seed 1 and another configuration"))
      << refused.err;
  EXPECT_TRUE(has(refused.err, "--rerun v")) << refused.err;
  const test::Result rerun =
      test::run("study run " + (dir / "study.json").string() + " --rerun v " + dbArg(db));
  ASSERT_EQ(rerun.code, 0) << rerun.err;
  EXPECT_TRUE(has(rerun.err, "variant 'v': 1 run(s) deleted")) << rerun.err;
  const RunStore store = RunStore::openReadOnly(db);
  const auto runs = store.listRuns();
  ASSERT_EQ(runs.size(), 2u);  // run 2 (v) deleted, run 3 its new one
  EXPECT_EQ(runs[0].variant, "2-4-6-8");
  EXPECT_EQ(runs[1].variant, "v");
  EXPECT_EQ(runs[1].id, 3);
  EXPECT_EQ(nlohmann::json::parse(runs[1].config_json)["training"]["optimizer"]["lr"], 0.002);
  const test::Result unknown =
      test::run("study add " + (dir / "study.json").string() + " --rerun nope " + dbArg(db));
  EXPECT_EQ(unknown.code, 2);
  EXPECT_TRUE(has(unknown.err, "has no variant 'nope'")) << unknown.err;
}

TEST(CliStudy, StoppedAndStartedAgainItContinuesAndRepeatsNothing) {
  const fs::path dir = test::tempDir("cli_study_stop");
  const fs::path db = dir / "runs.sqlite";
  const fs::path study = writeStudy(dir, 30);
  const pid_t pid =
      test::start({"study", "run", study.string(), "--db", db.string()}, dir / "out", dir / "err");
  // Stop it while its second run trains (past its first checkpoint).
  ASSERT_TRUE(test::waitFor([&] {
    if (!fs::exists(db)) return false;
    const RunStore store = RunStore::openReadOnly(db);
    const auto runs = store.listRuns();
    return runs.size() == 2 && !store.checkpoints(runs[1].id).empty();
  }));
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 130) << test::slurp(dir / "err");
  EXPECT_TRUE(has(test::slurp(dir / "err"), "the rest of the queue waits"));
  {
    const RunStore store = RunStore::openReadOnly(db);
    const auto runs = store.listRuns();
    ASSERT_EQ(runs.size(), 2u);
    EXPECT_EQ(runs[0].status, RunStatus::Completed);
    EXPECT_EQ(runs[1].status, RunStatus::Stopped);
  }
  // Started again by name: the stopped run continues from its checkpoint, the rest follow.
  const test::Result r = test::run("study run tiny-study " + dbArg(db));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.err, "== continuing run 2")) << r.err;
  const RunStore store = RunStore::openReadOnly(db);
  const auto runs = store.listRuns();
  ASSERT_EQ(runs.size(), 6u);  // one run per item, none repeated
  std::set<std::pair<std::string, std::string>> pairs;
  for (const RunRecord& run : runs) {
    EXPECT_EQ(run.status, RunStatus::Completed) << run.name;
    EXPECT_EQ(run.last_step, 30) << run.name;
    pairs.insert({run.variant, run.name});
  }
  EXPECT_EQ(pairs.size(), 6u);
  EXPECT_EQ(store.evalScores(runs[1].id).back().step, 30);
}

TEST(CliStudy, TwoWorkersShareOneQueueAndStartEveryItemOnce) {
  const fs::path dir = test::tempDir("cli_study_workers");
  const fs::path db = dir / "runs.sqlite";
  const test::Result queued =
      test::run("study add " + writeStudy(dir, 6).string() + " " + dbArg(db));
  ASSERT_EQ(queued.code, 0) << queued.err;
  EXPECT_TRUE(RunStore::openReadOnly(db).listRuns().empty());
  const test::Result waiting = test::run("queue list " + dbArg(db));
  EXPECT_TRUE(has(waiting.out, "tiny-study/square/seed2")) << waiting.out;
  // Two worker processes on the same database and queue, started together.
  const pid_t a = test::start({"queue", "run", "--db", db.string()}, dir / "a.out", dir / "a.err");
  const pid_t b = test::start({"study", "run", "tiny-study", "--db", db.string()}, dir / "b.out",
                              dir / "b.err");
  int sa = 0, sb = 0;
  waitpid(a, &sa, 0);
  waitpid(b, &sb, 0);
  EXPECT_TRUE(WIFEXITED(sa) && WEXITSTATUS(sa) == 0) << test::slurp(dir / "a.err");
  EXPECT_TRUE(WIFEXITED(sb) && WEXITSTATUS(sb) == 0) << test::slurp(dir / "b.err");
  const RunStore store = RunStore::openReadOnly(db);
  std::set<int64_t> runs;
  for (const QueueItem& q : store.queueItems()) {
    EXPECT_EQ(q.state, QueueState::Started) << q.name;
    EXPECT_TRUE(runs.insert(q.run).second) << "run " << q.run << " serves two items";
  }
  EXPECT_EQ(runs.size(), 6u);
  ASSERT_EQ(store.listRuns().size(), 6u);  // no item started twice
  for (const RunRecord& run : store.listRuns()) EXPECT_EQ(run.status, RunStatus::Completed);
}

TEST(CliStudy, QueueCancelMoveTagsNotesAndSearch) {
  const fs::path dir = test::tempDir("cli_study_queue");
  const fs::path db = dir / "runs.sqlite";
  ASSERT_EQ(test::run("study add " + writeStudy(dir, 3, "[1]").string() + " " + dbArg(db)).code, 0);
  // Items 1-3: 2-4-6-8, square, lora. Cancel square, move lora to the front.
  EXPECT_EQ(test::run("queue cancel 2 " + dbArg(db)).code, 0);
  EXPECT_EQ(test::run("queue move 3 --before 1 " + dbArg(db)).code, 0);
  const test::Result bad = test::run("queue move 2 " + dbArg(db));
  EXPECT_EQ(bad.code, 1);
  EXPECT_TRUE(has(bad.err, "queue item 2 is cancelled, not waiting")) << bad.err;
  ASSERT_EQ(test::run("queue run " + dbArg(db)).code, 0);
  {
    const RunStore store = RunStore::openReadOnly(db);
    const auto runs = store.listRuns();
    ASSERT_EQ(runs.size(), 2u);
    EXPECT_EQ(runs[0].variant.rfind("lora-r", 0), 0u) << runs[0].variant;
    EXPECT_EQ(runs[1].variant, "2-4-6-8");
  }
  const test::Result all = test::run("queue list --all " + dbArg(db));
  EXPECT_TRUE(has(all.out, "cancelled")) << all.out;
  const test::Result shown = test::run("study show 1 --runs " + dbArg(db));
  EXPECT_TRUE(has(shown.out, "cancelled")) << shown.out;
  EXPECT_TRUE(has(shown.out, "\nsquare    0/0 ")) << shown.out;

  EXPECT_EQ(test::run("runs tag 2 pilot keep " + dbArg(db)).code, 0);
  EXPECT_EQ(test::run("runs tag 2 --remove keep " + dbArg(db)).code, 0);
  EXPECT_EQ(test::run("runs note 2 'first try, lr 3e-3' " + dbArg(db)).code, 0);
  const test::Result show = test::run("runs show 2 " + dbArg(db));
  EXPECT_TRUE(has(show.out, "tags: pilot\n")) << show.out;
  EXPECT_TRUE(has(show.out, "note: first try, lr 3e-3")) << show.out;
  EXPECT_TRUE(has(show.out, "study: 1, variant 2-4-6-8")) << show.out;
  const test::Result found = test::run("runs list --search 'PILOT 2-4' " + dbArg(db));
  EXPECT_TRUE(has(found.out, "tiny-study/2-4-6-8/seed1")) << found.out;
  EXPECT_FALSE(has(found.out, "tiny-study/lora")) << found.out;
  const test::Result none = test::run("runs list --search nothing-like-this " + dbArg(db));
  EXPECT_FALSE(has(none.out, "tiny-study")) << none.out;
}

TEST(CliStudy, AdvisorProposesFromAPilotRunAndFromTheWeights) {
  const fs::path dir = test::tempDir("cli_study_advise");
  const fs::path db = dir / "runs.sqlite";
  ASSERT_EQ(test::run("study run " + writeStudy(dir, 6, "[1]").string() + " " + dbArg(db)).code, 0);
  // Run 2 is the square pilot (5 experts per layer).
  const test::Result router = test::run("advise 2 --budget 16 " + dbArg(db));
  ASSERT_EQ(router.code, 0) << router.err;
  EXPECT_TRUE(has(router.out, "proposal (router): ")) << router.out;
  EXPECT_TRUE(has(router.out, "layer   4")) << router.out;
  const test::Result json = test::run("advise 2 --budget 16 --json " + dbArg(db));
  ASSERT_EQ(json.code, 0) << json.err;
  const nlohmann::json variant = nlohmann::json::parse(json.out);
  const std::string alloc = variant["set"]["adapter.allocation"];
  int total = 0, layers = 0;
  std::istringstream in(alloc);
  for (std::string n; std::getline(in, n, ',');) {
    EXPECT_GE(std::stoi(n), 2) << alloc;
    total += std::stoi(n), ++layers;
  }
  EXPECT_EQ(total, 16) << alloc;
  EXPECT_EQ(layers, 4) << alloc;
  EXPECT_TRUE(has(router.out, alloc)) << router.out;
  // The proposal joins the study as one more variant, for each of its seeds.
  const test::Result added =
      test::run("advise 2 --budget 16 --add-to tiny-study --name adv " + dbArg(db));
  ASSERT_EQ(added.code, 0) << added.err;
  EXPECT_TRUE(has(added.out, "variant 'adv' (" + alloc + ") added, 1 run(s) queued")) << added.out;
  ASSERT_EQ(test::run("study run tiny-study " + dbArg(db)).code, 0);
  const RunStore store = RunStore::openReadOnly(db);
  ASSERT_EQ(store.listRuns().size(), 4u);
  EXPECT_EQ(store.listRuns().back().variant, "adv");
  EXPECT_EQ(store.listRuns().back().allocation, alloc);
  EXPECT_EQ(store.listRuns().back().status, RunStatus::Completed);
  const test::Result twice = test::run("advise 2 --budget 16 --add-to 1 --name adv " + dbArg(db));
  EXPECT_EQ(twice.code, 1);
  EXPECT_TRUE(has(twice.err, "already has a variant named 'adv'")) << twice.err;

  const test::Result spectra = test::run("advise --model builtin:tiny:3 --budget 12 --min 1");
  ASSERT_EQ(spectra.code, 0) << spectra.err;
  EXPECT_TRUE(has(spectra.out, "proposal (spectra): ")) << spectra.out;
  EXPECT_TRUE(has(spectra.out, "heavy-tail exponent")) << spectra.out;
  const test::Result over = test::run("advise 2 --budget 3 " + dbArg(db));
  EXPECT_EQ(over.code, 1);
  EXPECT_TRUE(has(over.err, "cannot give 4 layers 2 each")) << over.err;
}

}  // namespace
}  // namespace mola
