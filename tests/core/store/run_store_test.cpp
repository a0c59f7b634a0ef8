// SPDX-License-Identifier: GPL-3.0-or-later
// RunStore on real SQLite files: round trips, cascades, concurrent readers (the files it refuses,
// a full disk and moved stores: run_store_files_test.cpp).
#include "store/run_store.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "expect_error.h"
#include "in_child.h"
#include "shared_data.h"
#include "store_probe.h"
#include "store_test_support.h"

namespace mola {
namespace {

namespace fs = std::filesystem;
using test::deadPid;
using test::expectStoreError;
using test::isIsoUtc;
using test::RawDb;
using test::readBytes;
using test::writeBytes;

RouterStatsSnapshot sampleSnapshot(int64_t step) {
  RouterStatsSnapshot s;
  s.step = step;
  LayerRouterStats a;
  a.layer = 0;
  a.tokens = 96;
  a.token_fraction = {0.5, 0.25, 0.25};
  a.mean_probability = {0.4, 0.35, 0.25};
  a.entropy = 1.0397207708399179;
  a.normalized_entropy = 0.9463946303571863;
  a.load_cv = 0.3535533905932738;
  LayerRouterStats b;
  b.layer = 3;
  b.tokens = 1234567890123;
  b.token_fraction = {0.75, 0.25};
  b.mean_probability = {0.625, 0.375};
  b.entropy = 0.6615632381579821;
  b.normalized_entropy = 0.954434002924965;
  b.load_cv = 0.5;
  s.layers = {a, b};
  return s;
}

void expectSameSnapshot(const RouterStatsSnapshot& got, const RouterStatsSnapshot& want) {
  EXPECT_EQ(got.step, want.step);
  ASSERT_EQ(got.layers.size(), want.layers.size());
  for (size_t j = 0; j < want.layers.size(); ++j) {
    const LayerRouterStats& g = got.layers[j];
    const LayerRouterStats& w = want.layers[j];
    EXPECT_EQ(g.layer, w.layer);
    EXPECT_EQ(g.tokens, w.tokens);
    EXPECT_EQ(g.token_fraction, w.token_fraction) << "layer " << w.layer;
    EXPECT_EQ(g.mean_probability, w.mean_probability) << "layer " << w.layer;
    EXPECT_EQ(g.entropy, w.entropy);
    EXPECT_EQ(g.normalized_entropy, w.normalized_entropy);
    EXPECT_EQ(g.load_cv, w.load_cv);
  }
}

TEST(RunStore, CreatesListsAndShowsRuns) {
  const fs::path db = test::tempDir("store_create") / "runs.sqlite";
  RunStore store = RunStore::open(db);
  EXPECT_EQ(store.path(), db);
  EXPECT_TRUE(store.listRuns().empty());
  const int64_t a = store.createRun("quickstart", R"({"rank": 8})", "2,2,4,4", "builtin:tiny");
  const int64_t b = store.createRun("lora", "{}", "1,1,1,1", "/models/stories260K");
  EXPECT_EQ(a, 1);
  EXPECT_EQ(b, 2);

  const std::vector<RunRecord> runs = store.listRuns();
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].id, a);
  EXPECT_EQ(runs[1].id, b);
  const RunRecord& r = runs[0];
  EXPECT_EQ(r.name, "quickstart");
  EXPECT_EQ(r.status, RunStatus::Running);
  EXPECT_TRUE(isIsoUtc(r.created_at)) << r.created_at;
  EXPECT_EQ(r.finished_at, "");
  EXPECT_EQ(r.config_json, R"({"rank": 8})");
  EXPECT_EQ(r.allocation, "2,2,4,4");
  EXPECT_EQ(r.model, "builtin:tiny");
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  EXPECT_EQ(r.host.rfind(host, 0), 0u) << r.host;
  EXPECT_NE(r.host.find("CPU"), std::string::npos) << r.host;
  // The processor's name, read here independently of the store.
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);)
    if (line.rfind("model name", 0) == 0) {
      const std::string model = line.substr(line.find_first_not_of(" \t", line.find(':') + 1));
      EXPECT_NE(r.host.find("(" + model + ")"), std::string::npos) << r.host;
      break;
    }
  EXPECT_EQ(r.message, "");
  EXPECT_EQ(r.last_step, 0);

  const RunRecord shown = store.run(b);
  EXPECT_EQ(shown.name, "lora");
  EXPECT_EQ(shown.model, "/models/stories260K");
  EXPECT_EQ(RawDb(db).integer("SELECT pid FROM runs WHERE id = 2"), getpid());

  expectStoreError([&] { store.run(42); }, db.string() + ": no run with id 42");
}

TEST(RunStore, MetricsRoundTripAndAfterStepFilter) {
  const fs::path db = test::tempDir("store_metrics") / "runs.sqlite";
  RunStore store = RunStore::open(db);
  const int64_t run = store.createRun("m", "{}", "2", "tiny");
  const int64_t other = store.createRun("other", "{}", "2", "tiny");
  std::vector<MetricPoint> points;
  const double losses[] = {2.5, 2.25, 2.0, 1.75, 1.5};
  for (int64_t step = 1; step <= 5; ++step) {
    points.push_back({step, "loss", losses[step - 1]});
    points.push_back({step, "lr", 0.0003 * double(step) / 5.0});
  }
  store.addMetrics(run, points);
  store.addMetrics(other, {{9, "loss", 7.0}});

  const std::vector<MetricPoint> loss = store.metrics(run, "loss");
  ASSERT_EQ(loss.size(), 5u);
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(loss[i].step, int64_t(i + 1));
    EXPECT_EQ(loss[i].name, "loss");
    EXPECT_EQ(loss[i].value, losses[i]);
  }
  const std::vector<MetricPoint> tail = store.metrics(run, "loss", 2);
  ASSERT_EQ(tail.size(), 3u);
  EXPECT_EQ(tail[0].step, 3);
  EXPECT_EQ(tail[0].value, 2.0);
  EXPECT_EQ(tail[2].step, 5);
  EXPECT_EQ(tail[2].value, 1.5);
  EXPECT_TRUE(store.metrics(run, "loss", 5).empty());

  const std::vector<MetricPoint> all = store.metrics(run, "", 3);  // by step, then name
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0].step, 4);
  EXPECT_EQ(all[0].name, "loss");
  EXPECT_EQ(all[0].value, 1.75);
  EXPECT_EQ(all[1].step, 4);
  EXPECT_EQ(all[1].name, "lr");
  EXPECT_EQ(all[1].value, 0.0003 * 4.0 / 5.0);
  EXPECT_EQ(all[3].name, "lr");
  EXPECT_EQ(all[3].value, 0.0003);

  EXPECT_EQ(store.metricNames(run), (std::vector<std::string>{"loss", "lr"}));
  EXPECT_EQ(store.run(run).last_step, 5);
  EXPECT_EQ(store.run(other).last_step, 9);

  // NaN and infinity survive (SQLite itself cannot store NaN); a re-logged step replaces.
  store.addMetrics(run, {{6, "loss", std::numeric_limits<double>::quiet_NaN()},
                         {6, "grad_norm", std::numeric_limits<double>::infinity()},
                         {5, "loss", 1.25}});
  const std::vector<MetricPoint> later = store.metrics(run, "", 4);
  ASSERT_EQ(later.size(), 4u);
  EXPECT_EQ(later[0].step, 5);
  EXPECT_EQ(later[0].value, 1.25);
  EXPECT_EQ(later[2].name, "grad_norm");
  EXPECT_EQ(later[2].value, std::numeric_limits<double>::infinity());
  EXPECT_EQ(later[3].name, "loss");
  EXPECT_TRUE(std::isnan(later[3].value));
  EXPECT_EQ(store.metrics(run, "loss").size(), 6u);
  EXPECT_EQ(store.run(run).last_step, 6);

  expectStoreError([&] { store.addMetrics(77, {{1, "loss", 1.0}}); }, "no run with id 77");
  EXPECT_EQ(RawDb(db).integer("SELECT count(*) FROM metrics WHERE run = 77"), 0);
}

TEST(RunStore, RouterStatsRoundTripExactly) {
  const fs::path db = test::tempDir("store_router") / "runs.sqlite";
  RunStore store = RunStore::open(db);
  const int64_t run = store.createRun("r", "{}", "3,2,2,2", "tiny");
  store.addRouterStats(run, sampleSnapshot(20));
  store.addRouterStats(run, sampleSnapshot(10));

  std::vector<RouterStatsSnapshot> got = store.routerStats(run);
  ASSERT_EQ(got.size(), 2u);
  expectSameSnapshot(got[0], sampleSnapshot(10));
  expectSameSnapshot(got[1], sampleSnapshot(20));
  RawDb raw(db);
  EXPECT_EQ(raw.integer("SELECT count(*) FROM router_stats WHERE step = 10 AND module = ''"), 5);
  EXPECT_EQ(raw.integer("SELECT count(*) FROM router_layer_stats WHERE step = 10"), 2);
  EXPECT_EQ(raw.text("SELECT fraction FROM router_stats WHERE step = 10 AND layer = 3 AND "
                     "expert = 0"),
            "0.75");

  // A snapshot at a stored step replaces that step as a whole.
  RouterStatsSnapshot again = sampleSnapshot(20);
  again.layers.resize(1);
  again.layers[0].token_fraction = {1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0};
  again.layers[0].load_cv = 0.0;
  store.addRouterStats(run, again);
  got = store.routerStats(run);
  ASSERT_EQ(got.size(), 2u);
  expectSameSnapshot(got[1], again);

  RouterStatsSnapshot bad = sampleSnapshot(30);
  bad.layers[0].mean_probability.pop_back();
  expectStoreError([&] { store.addRouterStats(run, bad); },
                   "layer 0 has 3 token fractions but 2 mean probabilities");
  EXPECT_EQ(store.routerStats(run).size(), 2u);
  EXPECT_TRUE(store.routerStats(999).empty());

  // The newest snapshot alone, as the full read gives it, task gate weights included.
  std::optional<RouterStatsSnapshot> last = store.lastRouterStats(run);
  ASSERT_TRUE(last.has_value());
  expectSameSnapshot(*last, again);
  RouterStatsSnapshot gated = sampleSnapshot(40);
  gated.tasks = {"largest", "opposite"};
  gated.task_weights = {{{0.7, 0.2, 0.1}, {0.1, 0.1, 0.8}}, {{0.5, 0.5}, {0.25, 0.75}}};
  store.addRouterStats(run, gated);
  last = store.lastRouterStats(run);
  ASSERT_TRUE(last.has_value());
  expectSameSnapshot(*last, gated);
  EXPECT_EQ(last->tasks, gated.tasks);
  EXPECT_EQ(last->task_weights, gated.task_weights);
  EXPECT_EQ(store.routerStats(run).back().task_weights, gated.task_weights);
  EXPECT_FALSE(store.lastRouterStats(999).has_value());
}

TEST(RunStore, APrimaryBenchmarkIsWhatTheTrainingScores) {
  const auto score = [](const char* benchmark, int64_t step) {
    EvalScore e;
    e.benchmark = benchmark;
    e.step = step;
    return e;
  };
  // Another benchmark scored first (mola eval --run while the run trained) is not the run's own.
  const std::vector<EvalScore> scores = {score("extra.jsonl", 4), score("valid.jsonl", 10),
                                         score("valid.jsonl", 20)};
  EXPECT_EQ(primaryBenchmark(scores, "valid.jsonl"), "valid.jsonl");
  EXPECT_EQ(primaryBenchmark(scores, "absent.jsonl"), "extra.jsonl");  // the first, then
  EXPECT_EQ(primaryBenchmark(scores), "extra.jsonl");
  std::vector<EvalScore> tasks = {score("arith", 5), score("mean of tasks", 5), score("words", 5)};
  EXPECT_EQ(primaryBenchmark(tasks), "mean of tasks");
  EXPECT_EQ(primaryBenchmark(tasks, "words"), "words");
  EXPECT_EQ(primaryBenchmark({}, "valid.jsonl"), "");
}

TEST(RunStore, EvalScoresWithPredictions) {
  const fs::path db = test::tempDir("store_eval") / "runs.sqlite";
  RunStore store = RunStore::open(db);
  const int64_t run = store.createRun("e", "{}", "2", "tiny");
  EvalScore late{0, 100, "arc-e.jsonl", "test", "generate", 0.5, 2, 0.1, 0.9};
  EvalScore early{0, 50, "arc-e.jsonl", "test", "likelihood", 0.75, 4, 0.30059, 0.95440};
  const std::vector<StoredPrediction> preds = {
      {"q1", 0, true}, {"q2", 2, false}, {"q3", 1, true}, {"q4", 3, true}};
  const int64_t late_id = store.addEvalScore(run, late);
  const int64_t early_id = store.addEvalScore(run, early, preds);
  EXPECT_NE(late_id, early_id);

  const std::vector<EvalScore> scores = store.evalScores(run);  // by step
  ASSERT_EQ(scores.size(), 2u);
  EXPECT_EQ(scores[0].id, early_id);
  EXPECT_EQ(scores[0].step, 50);
  EXPECT_EQ(scores[0].benchmark, "arc-e.jsonl");
  EXPECT_EQ(scores[0].split, "test");
  EXPECT_EQ(scores[0].protocol, "likelihood");
  EXPECT_EQ(scores[0].accuracy, 0.75);
  EXPECT_EQ(scores[0].n, 4);
  EXPECT_EQ(scores[0].ci_low, 0.30059);
  EXPECT_EQ(scores[0].ci_high, 0.95440);
  EXPECT_EQ(scores[1].id, late_id);
  EXPECT_EQ(scores[1].protocol, "generate");
  EXPECT_EQ(scores[1].accuracy, 0.5);

  const std::vector<StoredPrediction> got = store.predictions(early_id);
  ASSERT_EQ(got.size(), 4u);
  for (size_t i = 0; i < preds.size(); ++i) {
    EXPECT_EQ(got[i].example_id, preds[i].example_id);
    EXPECT_EQ(got[i].predicted, preds[i].predicted);
    EXPECT_EQ(got[i].correct, preds[i].correct);
  }
  EXPECT_TRUE(store.predictions(late_id).empty());
  EXPECT_TRUE(store.predictions(12345).empty());
  expectStoreError([&] { store.addEvalScore(8, early, preds); }, "no run with id 8");
}

TEST(RunStore, Checkpoints) {
  const fs::path db = test::tempDir("store_ckpt") / "runs.sqlite";
  RunStore store = RunStore::open(db);
  const int64_t run = store.createRun("c", "{}", "2", "tiny");
  store.addCheckpoint(run, 100, "/ckpt/run1/step100");
  store.addCheckpoint(run, 50, "/ckpt/run1/step50");
  store.addCheckpoint(run, 100, "/ckpt/run1/step100-b");  // the same step again replaces it
  const std::vector<CheckpointRecord> c = store.checkpoints(run);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].step, 50);
  EXPECT_EQ(c[0].path, "/ckpt/run1/step50");
  EXPECT_EQ(c[1].step, 100);
  EXPECT_EQ(c[1].path, "/ckpt/run1/step100-b");
  expectStoreError([&] { store.addCheckpoint(3, 1, "x"); }, "no run with id 3");
}

// Fills a run with two of everything: steps 2 and 4 (metrics at 1..5).
void fillRun(RunStore& store, int64_t run) {
  for (int64_t step = 1; step <= 5; ++step) store.addMetrics(run, {{step, "loss", 1.0 / step}});
  for (int64_t step : {2, 4}) {
    store.addRouterStats(run, sampleSnapshot(step));
    store.addEvalScore(run, {0, step, "b", "test", "likelihood", 0.5, 2, 0.0, 1.0},
                       {{"x", 1, true}, {"y", 0, false}});
    store.addCheckpoint(run, step, "/ckpt/" + std::to_string(step));
  }
}

TEST(RunStore, TruncateAfterRemovesWhatAResumeRecomputes) {
  const fs::path db = test::tempDir("store_truncate") / "runs.sqlite";
  RunStore store = RunStore::open(db);
  const int64_t run = store.createRun("t", "{}", "2", "tiny");
  fillRun(store, run);
  store.truncateAfter(run, 3);
  const std::vector<MetricPoint> m = store.metrics(run);
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m.back().step, 3);
  EXPECT_EQ(m.back().value, 1.0 / 3.0);
  ASSERT_EQ(store.routerStats(run).size(), 1u);
  EXPECT_EQ(store.routerStats(run)[0].step, 2);
  ASSERT_EQ(store.evalScores(run).size(), 1u);
  EXPECT_EQ(store.evalScores(run)[0].step, 2);
  EXPECT_EQ(RawDb(db).integer("SELECT count(*) FROM predictions"), 2);
  // The checkpoint of step 4 is rewritten by the resumed run, which recomputes that step.
  ASSERT_EQ(store.checkpoints(run).size(), 1u);
  EXPECT_EQ(store.checkpoints(run)[0].step, 2);
  EXPECT_EQ(store.run(run).last_step, 3);
}

TEST(RunStore, DeleteRunCascadesToEveryTable) {
  const fs::path db = test::tempDir("store_delete") / "runs.sqlite";
  RunStore store = RunStore::open(db);
  const int64_t gone = store.createRun("gone", "{}", "2", "tiny");
  const int64_t kept = store.createRun("kept", "{}", "2", "tiny");
  fillRun(store, gone);
  fillRun(store, kept);
  const fs::path folder = store.runDirectory(gone);
  ASSERT_TRUE(fs::exists(folder / "lock"));
  expectStoreError([&] { store.deleteRun(gone); }, "is training in this process");
  store.setStatus(gone, RunStatus::Stopped);
  store.deleteRun(gone);
  EXPECT_FALSE(fs::exists(folder));
  EXPECT_TRUE(fs::exists(store.runDirectory(kept)));

  RawDb raw(db);
  const std::string g = std::to_string(gone);
  EXPECT_EQ(raw.integer("SELECT count(*) FROM runs WHERE id = " + g), 0);
  for (const char* table :
       {"metrics", "router_stats", "router_layer_stats", "eval_scores", "checkpoints"}) {
    EXPECT_EQ(raw.integer(std::string("SELECT count(*) FROM ") + table + " WHERE run = " + g), 0)
        << table;
    EXPECT_GT(raw.integer(std::string("SELECT count(*) FROM ") + table +
                          " WHERE run = " + std::to_string(kept)),
              0)
        << table;
  }
  EXPECT_EQ(raw.integer("SELECT count(*) FROM predictions"), 4);  // kept's two scores x 2
  EXPECT_EQ(raw.integer("SELECT count(*) FROM predictions WHERE eval NOT IN "
                        "(SELECT id FROM eval_scores)"),
            0);
  ASSERT_EQ(store.listRuns().size(), 1u);
  EXPECT_EQ(store.listRuns()[0].name, "kept");
  EXPECT_EQ(store.metrics(kept).size(), 5u);
  expectStoreError([&] { store.deleteRun(gone); }, "no run with id " + g);
}

TEST(RunStore, StatusTransitionsAndFinishedAt) {
  const fs::path db = test::tempDir("store_status") / "runs.sqlite";
  RunStore store = RunStore::open(db);
  const int64_t run = store.createRun("s", "{}", "2", "tiny");
  store.setStatus(run, RunStatus::Stopped, "stopped by the user at step 40");
  RunRecord r = store.run(run);
  EXPECT_EQ(r.status, RunStatus::Stopped);
  EXPECT_EQ(r.message, "stopped by the user at step 40");
  EXPECT_TRUE(isIsoUtc(r.finished_at)) << r.finished_at;
  EXPECT_GE(r.finished_at, r.created_at);

  store.setStatus(run, RunStatus::Running);  // resumed
  r = store.run(run);
  EXPECT_EQ(r.status, RunStatus::Running);
  EXPECT_EQ(r.finished_at, "");
  EXPECT_EQ(r.message, "");

  store.setStatus(run, RunStatus::Failed, "loss is NaN at step 12");
  r = store.run(run);
  EXPECT_EQ(r.status, RunStatus::Failed);
  EXPECT_EQ(r.message, "loss is NaN at step 12");
  EXPECT_TRUE(isIsoUtc(r.finished_at));
  store.setStatus(run, RunStatus::Completed);
  EXPECT_EQ(store.run(run).status, RunStatus::Completed);
  EXPECT_EQ(store.run(run).message, "");
  expectStoreError([&] { store.setStatus(5, RunStatus::Completed); }, "no run with id 5");

  for (RunStatus s : {RunStatus::Running, RunStatus::Completed, RunStatus::Stopped,
                      RunStatus::Failed, RunStatus::Interrupted})
    EXPECT_EQ(parseRunStatus(runStatusName(s)), s);
  EXPECT_EQ(runStatusName(RunStatus::Interrupted), "interrupted");
  test::expectErrorContaining<std::invalid_argument>([] { parseRunStatus("done"); },
                                                     "unknown run status 'done'");
}

TEST(RunStore, WalModeSchemaVersionAndApplicationId) {
  const fs::path db = test::tempDir("store_wal") / "runs.sqlite";
  RunStore store = RunStore::open(db);
  store.createRun("w", "{}", "2", "tiny");
  RawDb raw(db);
  EXPECT_EQ(raw.text("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(raw.integer("PRAGMA application_id"), 0x4D4F4C41);
  EXPECT_EQ(raw.integer("PRAGMA user_version"), RunStore::kSchemaVersion);
  EXPECT_EQ(RunStore::migrations().size(), size_t(RunStore::kSchemaVersion));
  EXPECT_EQ(raw.text("PRAGMA foreign_key_check"), "");
}

TEST(RunStore, ReadersInOtherThreadsNeverSeeLockedErrors) {
  const fs::path db = test::tempDir("store_threads") / "runs.sqlite";
  int64_t run = 0, second = 0;
  {
    RunStore store = RunStore::open(db);
    run = store.createRun("writer", "{}", "3,2,2,2", "tiny");
    second = store.createRun("second writer", "{}", "2", "tiny");
  }
  constexpr int kSteps = 300;
  std::atomic<int> writers_left{2};
  std::atomic<int> reads{0};
  std::string writer_error, second_error, reader_error;
  std::thread writer([&] {
    try {
      RunStore w = RunStore::open(db);  // each thread its own connection
      for (int step = 1; step <= kSteps; ++step) {
        w.addMetrics(run, {{step, "loss", 1.0 / step}, {step, "lr", 0.001}});
        if (step % 25 == 0) w.addRouterStats(run, sampleSnapshot(step));
      }
    } catch (const std::exception& e) {
      writer_error = e.what();
    }
    --writers_left;
  });
  std::thread second_writer([&] {  // two trainers sharing the default database
    try {
      RunStore w = RunStore::open(db);
      for (int step = 1; step <= kSteps; ++step) w.addMetrics(second, {{step, "loss", 2.0}});
    } catch (const std::exception& e) {
      second_error = e.what();
    }
    --writers_left;
  });
  std::thread reader([&] {
    try {
      RunStore r = RunStore::open(db);
      size_t seen = 0;
      while (writers_left > 0 && reader_error.empty()) {
        const std::vector<MetricPoint> loss = r.metrics(run, "loss");
        // Each read is one consistent snapshot: steps 1..n, never fewer than before.
        if (loss.size() < seen) reader_error = "the loss curve got shorter";
        for (size_t i = 0; i < loss.size(); ++i)
          if (loss[i].step != int64_t(i + 1)) reader_error = "a gap in the loss curve";
        seen = loss.size();
        for (const RouterStatsSnapshot& s : r.routerStats(run))
          if (s.layers.size() != 2) reader_error = "a half-written router snapshot";
        r.listRuns();
        ++reads;
      }
    } catch (const std::exception& e) {
      reader_error = e.what();
    }
  });
  // And a reader on this thread, opened while the others run.
  RunStore here = RunStore::open(db);
  while (writers_left > 0) here.run(run);
  writer.join();
  second_writer.join();
  reader.join();
  EXPECT_EQ(writer_error, "");
  EXPECT_EQ(second_error, "");
  EXPECT_EQ(reader_error, "");
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(here.metrics(run, "loss").size(), size_t(kSteps));
  EXPECT_EQ(here.metrics(second, "loss").size(), size_t(kSteps));
  EXPECT_EQ(here.routerStats(run).size(), size_t(kSteps / 25));
  EXPECT_EQ(here.run(run).last_step, kSteps);
}

TEST(RunStore, ReaderInAnotherProcessWhileWriting) {
  const fs::path db = test::tempDir("store_process") / "runs.sqlite";
  int64_t run = 0;
  {
    RunStore store = RunStore::open(db);
    run = store.createRun("p", "{}", "2", "tiny");
  }
  constexpr int kSteps = 200;
  // The child (a GUI, say) opens first; this process then writes.
  const std::string child = [&] {
    int fds[2];
    if (pipe(fds) != 0) return std::string("pipe failed");
    const pid_t pid = fork();
    if (pid == 0) {
      close(fds[0]);
      std::string out;
      try {
        RunStore r = RunStore::open(db);
        size_t seen = 0;
        const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        while (seen < size_t(kSteps) && out.empty()) {
          const size_t n = r.metrics(run, "loss").size();
          if (n < seen) out = "the loss curve got shorter";
          seen = n;
          if (std::chrono::steady_clock::now() > give_up) out = "only saw " + std::to_string(n);
        }
      } catch (const std::exception& e) {
        out = e.what();
      }
      if (write(fds[1], out.data(), out.size()) < 0) _exit(3);
      _exit(0);
    }
    close(fds[1]);
    {
      RunStore w = RunStore::open(db);
      for (int step = 1; step <= kSteps; ++step) w.addMetrics(run, {{step, "loss", 1.0}});
    }
    std::string out;
    char buf[1024];
    for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, size_t(n));
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) out += " (the reader process failed)";
    return out;
  }();
  EXPECT_EQ(child, "");
}

}  // namespace
}  // namespace mola
