// SPDX-License-Identifier: GPL-3.0-or-later
// mola train / resume / runs end to end: the real binary, a real database file, real signals.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "cli_runner.h"
#include "store/run_store.h"

namespace {

namespace fs = std::filesystem;
using mola::RunStatus;
using mola::RunStore;
using mola::test::has;
using mola::test::lines;
using mola::test::Result;
using mola::test::run;
using mola::test::slurp;
using mola::test::start;
using mola::test::waitFor;
using mola::test::writeExperiment;

TEST(CliTrain, TrainsIntoTheDatabaseAndRunsReadsItBack) {
  const fs::path dir = mola::test::tempDir("cli_train_store");
  const std::string db = (dir / "runs.sqlite").string();
  Result r = run("train " + writeExperiment(dir, 12, 6).string() + " --db " + db);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "run 1: completed")) << r.out;
  EXPECT_TRUE(has(r.err, "step 10/12  loss ")) << "plain progress lines when piped:\n" << r.err;
  EXPECT_TRUE(has(r.err, "  balance ")) << "MoLA's routers train a balance loss:\n" << r.err;
  EXPECT_TRUE(has(r.err, " GiB  ETA ")) << "the peak memory:\n" << r.err;
  EXPECT_FALSE(has(r.err, "\r")) << "no carriage returns when piped";
  EXPECT_TRUE(has(r.err, "eval at step 6 on synthetic:largest:16:2: accuracy ")) << r.err;

  {
    RunStore store = RunStore::open(db, false);
    const mola::RunRecord rec = store.run(1);
    EXPECT_EQ(rec.status, RunStatus::Completed);
    EXPECT_EQ(rec.last_step, 12);
    EXPECT_EQ(store.metrics(1, "loss").size(), 12u);
    EXPECT_EQ(store.metrics(1, "balance_loss").size(), 12u);
    for (const mola::MetricPoint& p : store.metrics(1, "peak_mem_mb")) EXPECT_GT(p.value, 10.0);
    ASSERT_EQ(store.routerStats(1).size(), 4u);  // steps 3, 6, 9, 12
    EXPECT_EQ(store.routerStats(1)[0].layers.size(), 4u);
    ASSERT_EQ(store.evalScores(1).size(), 2u);  // steps 6 and 12
    EXPECT_EQ(store.evalScores(1)[1].n, 16);
    EXPECT_EQ(store.predictions(store.evalScores(1)[1].id).size(), 16u);
    ASSERT_EQ(store.checkpoints(1).size(), 2u);
    EXPECT_TRUE(fs::exists(fs::path(store.checkpoints(1)[1].path) / "adapter.safetensors"));
  }

  // keep_checkpoints: the older checkpoints leave the store and the disk as new ones come.
  r = run("train " + (dir / "tiny.json").string() + " --db " + db +
          " --set checkpoint_interval=3 --set keep_checkpoints=2 --set name=kept");
  ASSERT_EQ(r.code, 0) << r.err;
  {
    RunStore store = RunStore::open(db, false);
    const std::vector<mola::CheckpointRecord> kept = store.checkpoints(2);
    ASSERT_EQ(kept.size(), 2u);
    EXPECT_EQ(kept[0].step, 9);
    EXPECT_EQ(kept[1].step, 12);
    std::set<std::string> folders;
    for (const auto& e : fs::directory_iterator(fs::path(kept[0].path).parent_path()))
      folders.insert(e.path().filename().string());
    EXPECT_EQ(folders, (std::set<std::string>{"step-9", "step-12"}));
  }

  r = run("train " + (dir / "tiny.json").string() + " --db " + db +
          " --set training.max_steps=4 --set name=short");
  ASSERT_EQ(r.code, 0) << r.err;
  r = run("runs list --db " + db);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "tiny")) << r.out;
  EXPECT_TRUE(has(r.out, "short")) << r.out;
  EXPECT_TRUE(has(r.out, "completed")) << r.out;
  r = run("runs show 1 --db " + db);
  EXPECT_TRUE(has(r.out, "status: completed")) << r.out;
  EXPECT_TRUE(has(r.out, "eval at step 12: synthetic:largest:16:2 likelihood accuracy")) << r.out;
  r = run("runs compare 1 3 --db " + db);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "* training.max_steps")) << r.out;
  EXPECT_TRUE(has(r.out, "  adapter.rank")) << "equal keys are not marked\n" << r.out;
  EXPECT_TRUE(has(r.out, "final score")) << r.out;

  r = run("runs export 1 --csv " + (dir / "csv").string() + " --db " + db);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(lines(dir / "csv/metrics.csv"), 1u + 12u * 8u);       // header + 8 metrics a step
  EXPECT_EQ(lines(dir / "csv/router_stats.csv"), 1u + 4u * 20u);  // 4 snapshots x 20 experts
  EXPECT_EQ(lines(dir / "csv/eval_scores.csv"), 3u);

  r = run("runs delete 2 --db " + db);
  ASSERT_EQ(r.code, 0) << r.err;
  r = run("runs show 2 --db " + db);
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "2")) << r.err;
}

// mola eval --run scores the run's newest checkpoint as its training did (the same model, template
// and protocol from the stored experiment), and the score joins the run's evaluations.
TEST(CliTrain, EvalOfARunScoresItsCheckpointAndStoresTheScore) {
  const fs::path dir = mola::test::tempDir("cli_eval_run");
  const std::string db = (dir / "runs.sqlite").string();
  Result r = run("train " + writeExperiment(dir, 12, 6).string() + " --db " + db);
  ASSERT_EQ(r.code, 0) << r.err;
  r = run("eval --run 1 --db " + db + " --data synthetic:largest:16:2 --predictions " +
          (dir / "run.tsv").string());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.err, "the checkpoint of step 12")) << r.err;
  EXPECT_TRUE(has(r.out, "n: 16\n")) << r.out;
  EXPECT_TRUE(has(r.out, "stored as run 1's score on synthetic:largest:16:2 at step 12")) << r.out;

  RunStore store = RunStore::open(db, false);
  const std::vector<mola::EvalScore> scores = store.evalScores(1);
  ASSERT_EQ(scores.size(), 3u);  // steps 6 and 12 by the trainer, then ours
  const mola::EvalScore& trained = scores[1];
  const mola::EvalScore& ours = scores[2];
  EXPECT_EQ(ours.step, 12);
  EXPECT_EQ(ours.benchmark, trained.benchmark);
  EXPECT_EQ(ours.protocol, trained.protocol);
  EXPECT_EQ(ours.n, 16);
  EXPECT_DOUBLE_EQ(ours.accuracy, trained.accuracy);
  const auto a = store.predictions(trained.id), b = store.predictions(ours.id);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(b[i].example_id, a[i].example_id);
    EXPECT_EQ(b[i].predicted, a[i].predicted) << "example " << a[i].example_id;
  }

  // The same log-likelihoods as the base with the checkpoint's adapter file and the run's
  // template; the base alone gives others (the checkpoint's weights were used).
  const std::string adapter = (fs::path(store.checkpoints(1).back().path) / "adapter.safetensors");
  const std::string by_hand =
      "eval --model builtin:tiny:3 --device cpu --template compact "
      "--data synthetic:largest:16:2 --predictions ";
  r = run(by_hand + (dir / "adapter.tsv").string() + " --adapter " + adapter);
  ASSERT_EQ(r.code, 0) << r.err;
  r = run(by_hand + (dir / "base.tsv").string());
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string from_run = slurp(dir / "run.tsv");
  EXPECT_EQ(from_run, slurp(dir / "adapter.tsv"));
  EXPECT_NE(from_run, slurp(dir / "base.tsv"));

  // A score on another benchmark joins the run's scores; the run's final score stays its
  // training's benchmark's (k/16, which no k/7 equals).
  const std::string listed = run("runs list --db " + db).out;
  r = run("eval --run 1 --db " + db + " --data synthetic:opposite:7:3");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "stored as run 1's score on synthetic:opposite:7:3 at step 12")) << r.out;
  EXPECT_EQ(store.evalScores(1).size(), 4u);
  EXPECT_EQ(run("runs list --db " + db).out, listed);

  // Misuse is named: a model with a run, an unknown run, a missing database.
  r = run("eval --run 1 --db " + db + " --model builtin:tiny --data synthetic:largest:4");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.err, "--run takes the model")) << r.err;
  r = run("eval --run 9 --db " + db + " --data synthetic:largest:4");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "9")) << r.err;
  r = run("eval --run 1 --db " + (dir / "none.sqlite").string() + " --data synthetic:largest:4");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "no run database at")) << r.err;
  EXPECT_FALSE(fs::exists(dir / "none.sqlite"));
}

// mola runs compare pairs each run's final score with the first run's, question by question: the
// counts it prints are those of the stored predictions, counted here.
TEST(CliTrain, RunsComparePairsTheFinalScoresQuestionByQuestion) {
  const fs::path dir = mola::test::tempDir("cli_compare_paired");
  const std::string db = (dir / "runs.sqlite").string();
  const std::string experiment = writeExperiment(dir, 6, 6).string();
  ASSERT_EQ(run("train " + experiment + " --db " + db).code, 0);
  ASSERT_EQ(run("train " + experiment + " --db " + db +
                " --set training.seed=9 --set adapter.allocation=8-6-4-2")
                .code,
            0);
  RunStore store = RunStore::open(db, false);
  const auto first = store.predictions(store.evalScores(1).back().id);
  const auto second = store.predictions(store.evalScores(2).back().id);
  ASSERT_EQ(first.size(), 16u);
  ASSERT_EQ(second.size(), 16u);
  int both = 0, only_second = 0, only_first = 0, neither = 0;
  for (size_t i = 0; i < first.size(); ++i) {
    ASSERT_EQ(first[i].example_id, second[i].example_id);
    both += first[i].correct && second[i].correct;
    only_second += !first[i].correct && second[i].correct;
    only_first += first[i].correct && !second[i].correct;
    neither += !first[i].correct && !second[i].correct;
  }
  const Result r = run("runs compare 1 2 --db " + db);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "paired with run 1's final score on synthetic:largest:16:2:\n")) << r.out;
  EXPECT_TRUE(has(r.out, "  run 2: 16 on the same questions: both right " + std::to_string(both) +
                             ", only run 2 " + std::to_string(only_second) + ", only run 1 " +
                             std::to_string(only_first) + ", both wrong " +
                             std::to_string(neither) + "; run 2 - run 1 "))
      << r.out;
  EXPECT_TRUE(has(r.out, "McNemar exact p = ")) << r.out;

  // Against run 2: the same counts seen from the other side.
  const Result against = run("runs compare 1 2 --against 2 --db " + db);
  ASSERT_EQ(against.code, 0) << against.err;
  EXPECT_TRUE(has(against.out, "paired with run 2's final score on synthetic:largest:16:2:\n"))
      << against.out;
  EXPECT_TRUE(has(against.out, "  run 1: 16 on the same questions: both right " +
                                   std::to_string(both) + ", only run 1 " +
                                   std::to_string(only_first) + ", only run 2 " +
                                   std::to_string(only_second) + ", both wrong " +
                                   std::to_string(neither) + "; run 1 - run 2 "))
      << against.out;
  const Result stranger = run("runs compare 1 2 --against 7 --db " + db);
  EXPECT_NE(stranger.code, 0);
  EXPECT_TRUE(has(stranger.err, "run 7 is not among the compared runs")) << stranger.err;
}

// The shipped quickstart, exactly as a user runs it: the built-in base is pretrained once (cached
// under the build's test folder), then MoLA adapters learn antonyms. Chance is 1/4; the bound is
// the Wilson interval's lower end, so luck cannot pass it.
TEST(CliTrain, QuickstartLearnsAboveChance) {
  const fs::path dir = mola::test::tempDir("cli_quickstart");
  const fs::path cache = fs::path(MOLA_TEST_TMPDIR) / "model_cache";
  fs::create_directories(cache);
  ::setenv("MOLA_CACHE_DIR", cache.c_str(), 1);
  const std::string db = (dir / "runs.sqlite").string();
  const Result r = run("train " MOLA_EXPERIMENTS_DIR "/quickstart.json --db " + db);
  ASSERT_EQ(r.code, 0) << r.err;

  RunStore store = RunStore::open(db, false);
  EXPECT_EQ(store.run(1).status, RunStatus::Completed);
  const std::vector<mola::MetricPoint> loss = store.metrics(1, "loss");
  ASSERT_EQ(loss.size(), 150u);
  auto mean = [&](size_t from, size_t to) {
    double sum = 0;
    for (size_t i = from; i < to; ++i) sum += loss[i].value;
    return sum / double(to - from);
  };
  EXPECT_LT(mean(140, 150), 0.5 * mean(0, 10)) << "the loss must fall visibly";

  const std::vector<mola::EvalScore> scores = store.evalScores(1);
  ASSERT_EQ(scores.size(), 3u);  // steps 50, 100, 150
  EXPECT_EQ(scores.back().n, 200);
  EXPECT_GT(scores.back().ci_low, 0.25) << "accuracy " << scores.back().accuracy;
  EXPECT_GT(scores.back().accuracy, scores.front().accuracy) << "accuracy rises while training";
  EXPECT_FALSE(store.routerStats(1).empty());
}

TEST(CliTrain, AKilledRunIsInterruptedAndResumes) {
  const fs::path dir = mola::test::tempDir("cli_train_kill");
  const fs::path db = dir / "runs.sqlite";
  const pid_t pid = start({"train", writeExperiment(dir, 20, 5).string(), "--db", db.string()},
                          dir / "out", dir / "err");
  ASSERT_TRUE(waitFor([&] {
    if (!fs::exists(db)) return false;
    try {
      RunStore store = RunStore::open(db, false);
      return !store.checkpoints(1).empty() && store.run(1).last_step >= 7;
    } catch (const mola::StoreError&) {
      return false;
    }
  })) << slurp(dir / "err");
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);

  Result r = run("runs list --db " + db.string());
  EXPECT_TRUE(has(r.out, "interrupted")) << r.out << r.err;
  int64_t resume_step = 0;
  {
    RunStore store = RunStore::open(db, false);
    EXPECT_EQ(store.run(1).status, RunStatus::Interrupted);
    resume_step = store.checkpoints(1).back().step;
  }
  r = run("resume 1 --db " + db.string());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.err, "resuming run 1 from step " + std::to_string(resume_step))) << r.err;
  RunStore store = RunStore::open(db, false);
  EXPECT_EQ(store.run(1).status, RunStatus::Completed);
  const auto loss = store.metrics(1, "loss");
  ASSERT_EQ(loss.size(), 20u) << "every step once: the steps after the checkpoint were redone";
  for (size_t i = 0; i < loss.size(); ++i) EXPECT_EQ(loss[i].step, int64_t(i + 1));
}

TEST(CliTrain, InterruptStopsCleanlyWithACheckpoint) {
  const fs::path dir = mola::test::tempDir("cli_train_sigint");
  const fs::path db = dir / "runs.sqlite";
  const pid_t pid = start({"train", writeExperiment(dir, 500, 0).string(), "--db", db.string()},
                          dir / "out", dir / "err");
  ASSERT_TRUE(waitFor([&] {
    try {
      return fs::exists(db) && RunStore::open(db, false).run(1).last_step >= 3;
    } catch (const mola::StoreError&) {
      return false;
    }
  })) << slurp(dir / "err");
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 130);
  RunStore store = RunStore::open(db, false);
  EXPECT_EQ(store.run(1).status, RunStatus::Stopped);
  ASSERT_EQ(store.checkpoints(1).size(), 1u);
  EXPECT_TRUE(has(store.run(1).message, "stopped at step")) << store.run(1).message;
  EXPECT_TRUE(fs::exists(fs::path(store.checkpoints(1)[0].path) / "optimizer.pt"));
}

TEST(CliTrain, MalformedExperimentsAndDatabasesAreNamedErrors) {
  const fs::path dir = mola::test::tempDir("cli_train_bad");
  const std::string db = (dir / "runs.sqlite").string();
  std::ofstream(dir / "typo.json") << R"({"name": "x", "adaptr": {"rank": 4},
    "data": {"train": {"path": "synthetic:largest"}}})";
  Result r = run("train " + (dir / "typo.json").string() + " --db " + db);
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "typo.json")) << r.err;
  EXPECT_TRUE(has(r.err, "adaptr")) << r.err;
  EXPECT_TRUE(has(r.err, "adapter")) << "a suggestion\n" << r.err;

  std::ofstream(dir / "broken.json") << "{\n  \"name\": \"x\",\n  \"model\": nope\n}\n";
  r = run("train " + (dir / "broken.json").string() + " --db " + db);
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "broken.json:3:")) << r.err;

  r = run("train " + writeExperiment(dir, 4, 0).string() + " --db " + db +
          " --set training.optimizer.learning_rate=1");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "learning_rate")) << r.err;
  EXPECT_FALSE(fs::exists(db)) << "nothing was stored for a rejected experiment";

  std::ofstream(dir / "notes.sqlite") << "these are my notes, not a database";
  const std::string before = slurp(dir / "notes.sqlite");
  r = run("runs list --db " + (dir / "notes.sqlite").string());
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "notes.sqlite")) << r.err;
  EXPECT_EQ(slurp(dir / "notes.sqlite"), before) << "the file is left as it was";
}

// MOELoRA on two tasks through the real CLI: scored per task and as their mean, the task gates'
// weights in `runs show`, and an adapter that asks which task a question belongs to.
TEST(CliTrain, MoeLoraTrainsTwoTasksAndItsAdapterNeedsATask) {
  const fs::path dir = mola::test::tempDir("cli_train_moelora");
  const std::string db = (dir / "runs.sqlite").string();
  std::ofstream(dir / "moelora.json") << R"({
  "name": "moelora-two-tasks",
  "model": {"path": "builtin:tiny:3", "device": "cpu"},
  "adapter": {"method": "moelora", "allocation": "4", "rank": 8, "task_embedding_dim": 8},
  "data": {"tasks": [
             {"name": "largest", "train": {"path": "synthetic:largest:32:1"},
              "eval": {"path": "synthetic:largest:8:2"}},
             {"name": "opposite", "train": {"path": "synthetic:opposite:32:1"},
              "eval": {"path": "synthetic:opposite:8:2"}}],
           "prompt_template": "compact", "cutoff": 160},
  "training": {"batch_size": 8, "max_steps": 4, "optimizer": {"lr": 0.003}},
  "router_stats_interval": 2
})";
  Result r = run("train " + (dir / "moelora.json").string() + " --db " + db);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.err, "on largest: accuracy")) << r.err;
  EXPECT_TRUE(has(r.err, "on opposite: accuracy")) << r.err;
  EXPECT_TRUE(has(r.err, "on mean of tasks: accuracy")) << r.err;
  EXPECT_FALSE(has(r.err, "  balance ")) << "no router, no balance loss to show:\n" << r.err;
  r = run("runs show 1 --db " + db);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "eval at step 4: mean of tasks likelihood accuracy")) << r.out;
  EXPECT_TRUE(has(r.out, "task gate weights at step 4")) << r.out;
  EXPECT_TRUE(has(r.out, "  layer   4  opposite        ")) << r.out;

  const std::string adapter = (dir / "moelora.adapter").string();
  {
    RunStore store = RunStore::open(db, false);
    fs::copy_file(fs::path(store.checkpoints(1).back().path) / "adapter.safetensors", adapter);
  }
  r = run("adapter inspect " + adapter);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "tasks: largest opposite")) << r.out;
  const std::string eval = "eval --model builtin:tiny:3 --adapter " + adapter +
                           " --data synthetic:opposite:8:2 --template compact";
  r = run(eval);
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_TRUE(has(r.err, "MOELoRA over the tasks largest, opposite: name one with --task"))
      << r.err;
  r = run(eval + " --task opposit");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.err, "--task 'opposit' is not one of the adapter's tasks")) << r.err;
  r = run(eval + " --task opposite");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "n: 8")) << r.out;
}

}  // namespace
