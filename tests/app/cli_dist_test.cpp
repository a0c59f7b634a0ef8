// SPDX-License-Identifier: GPL-3.0-or-later
// Data-parallel training end to end: the real `mola train --nproc 2` (two ranks over Gloo on the
// loopback) against the single-process run of the same experiment, a rank killed mid-run, and
// ranks started as torchrun starts them.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <regex>

#include "cli_runner.h"
#include "model/safetensors.h"
#include "store/run_store.h"

namespace {

namespace fs = std::filesystem;
using mola::RunStatus;
using mola::RunStore;
using mola::test::has;
using mola::test::Result;
using mola::test::run;
using mola::test::slurp;

// Seven examples a batch (shares of 4 and 3), two micro-batches a step, an epoch of 64 examples
// that ends on a batch of one (rank 1 then has nothing of it), a balance loss that matters, no
// dropout (the ranks' masks could not be a single process's).
fs::path writeSplitExperiment(const fs::path& dir, int max_steps, int checkpoint_interval,
                              int eval_interval) {
  const fs::path file = dir / "split.json";
  std::ofstream(file) << R"({
  "name": "split",
  "model": {"path": "builtin:tiny:3", "device": "cpu"},
  "adapter": {"allocation": "2-4-6-8", "dropout": 0.0, "balance_coefficient": 0.05},
  "data": {"train": {"path": "synthetic:largest:64:1"}, "eval": {"path": "synthetic:largest:17:2"},
           "prompt_template": "compact", "cutoff": 160},
  "training": {"batch_size": 7, "grad_accumulation": 2, "max_steps": )"
                      << max_steps << R"(, "optimizer": {"lr": 0.003},
               "schedule": {"warmup_steps": 2}},
  "evaluation": {"interval": )"
                      << eval_interval << R"(},
  "checkpoint_interval": )"
                      << checkpoint_interval << R"(,
  "router_stats_interval": 3
})";
  return file;
}

std::map<std::string, std::vector<float>> adapterOf(const std::string& checkpoint) {
  const auto file = mola::SafetensorsFile::open(fs::path(checkpoint) / "adapter.safetensors");
  std::map<std::string, std::vector<float>> out;
  for (const mola::SafetensorsEntry& e : file.entries()) {
    EXPECT_EQ(e.dtype, "F32") << e.name;
    const float* p = reinterpret_cast<const float*>(file.data(e));
    out[e.name].assign(p, p + (e.end - e.begin) / sizeof(float));
  }
  return out;
}

TEST(CliDataParallel, TwoRanksOverGlooTrainAsOneProcessDoes) {
  const fs::path dir = mola::test::tempDir("cli_dist_equal");
  const std::string exp = writeSplitExperiment(dir, 10, 5, 5).string();
  const std::string one = (dir / "one.sqlite").string(), two = (dir / "two.sqlite").string();
  Result r = run("train " + exp + " --db " + one);
  ASSERT_EQ(r.code, 0) << r.err;
  // Small buckets: the gradients travel in several all-reduces, started during the backward pass.
  r = run("train " + exp + " --db " + two + " --nproc 2", "MOLA_BUCKET_MB=0.01");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(std::regex_search(r.err, std::regex("2 ranks on 127\\.0\\.0\\.1:[0-9]+ \\(0: pid "
                                                  "[0-9]+, 1: pid [0-9]+\\)")))
      << r.err;
  EXPECT_TRUE(has(r.out, "run 1: completed")) << r.out;

  RunStore a = RunStore::open(one, false), b = RunStore::open(two, false);
  const mola::RunRecord ra = a.run(1), rb = b.run(1);
  EXPECT_EQ(rb.status, RunStatus::Completed);
  EXPECT_TRUE(has(rb.config_json, "\"processes\": 2")) << rb.config_json;
  EXPECT_TRUE(has(rb.host, "2 processes:\nrank 0: ")) << rb.host;
  EXPECT_TRUE(has(rb.host, "\nrank 1: ")) << rb.host;
  EXPECT_TRUE(has(rb.host, "), cpu")) << rb.host;
  for (const char* name : {"loss", "balance_loss", "grad_norm"}) {
    const auto ma = a.metrics(1, name), mb = b.metrics(1, name);
    ASSERT_EQ(ma.size(), 10u) << name;
    ASSERT_EQ(mb.size(), 10u) << name;
    for (size_t i = 0; i < ma.size(); ++i)
      EXPECT_LE(std::abs(ma[i].value - mb[i].value), 1e-5 * std::abs(ma[i].value))
          << name << " at step " << ma[i].step << ": one process " << ma[i].value << ", two ranks "
          << mb[i].value;
  }
  // Router statistics summed over both ranks' tokens.
  const auto sa = a.routerStats(1), sb = b.routerStats(1);
  ASSERT_EQ(sa.size(), sb.size());
  ASSERT_EQ(sa.size(), 3u);  // steps 3, 6, 9
  for (size_t k = 0; k < sa.size(); ++k)
    for (size_t j = 0; j < sa[k].layers.size(); ++j) {
      EXPECT_EQ(sa[k].layers[j].tokens, sb[k].layers[j].tokens);
      for (size_t i = 0; i < sa[k].layers[j].token_fraction.size(); ++i)
        EXPECT_NEAR(sa[k].layers[j].token_fraction[i], sb[k].layers[j].token_fraction[i], 1e-6);
    }
  // The evaluation shared out over the ranks: every question once, in order.
  const auto ea = a.evalScores(1), eb = b.evalScores(1);
  ASSERT_EQ(ea.size(), 2u);
  ASSERT_EQ(eb.size(), 2u);
  for (size_t k = 0; k < ea.size(); ++k) {
    EXPECT_EQ(eb[k].n, 17);
    EXPECT_DOUBLE_EQ(ea[k].accuracy, eb[k].accuracy);
    const auto pa = a.predictions(ea[k].id), pb = b.predictions(eb[k].id);
    ASSERT_EQ(pa.size(), pb.size());
    for (size_t i = 0; i < pa.size(); ++i) {
      EXPECT_EQ(pa[i].example_id, pb[i].example_id);
      EXPECT_EQ(pa[i].predicted, pb[i].predicted) << pa[i].example_id;
    }
  }
  // The same adapter at the end, written once (by rank 0).
  ASSERT_EQ(b.checkpoints(1).size(), 2u);
  const auto wa = adapterOf(a.checkpoints(1).back().path);
  const auto wb = adapterOf(b.checkpoints(1).back().path);
  ASSERT_EQ(wa.size(), wb.size());
  // Per tensor: the difference's norm against the tensor's (Adam turns the 1e-7 differences of
  // a summed gradient into slightly larger ones where a gradient is near zero).
  for (const auto& [name, va] : wa) {
    const auto& vb = wb.at(name);
    ASSERT_EQ(va.size(), vb.size()) << name;
    double diff = 0.0, norm = 0.0;
    for (size_t i = 0; i < va.size(); ++i) {
      diff += (double(va[i]) - double(vb[i])) * (double(va[i]) - double(vb[i]));
      norm += double(va[i]) * double(va[i]);
    }
    EXPECT_LE(std::sqrt(diff), 2e-5 * std::sqrt(norm) + 1e-12) << name;
  }
}

// Rank 1 killed mid-run: the launcher names it, rank 0 stops with an error naming it, the run is
// interrupted; a resume with another number of processes is refused, with two it finishes.
TEST(CliDataParallel, AKilledRankInterruptsTheRunAndResumeFinishesIt) {
  const fs::path dir = mola::test::tempDir("cli_dist_kill");
  const std::string exp = writeSplitExperiment(dir, 80, 5, 0).string();
  const std::string db = (dir / "runs.sqlite").string();
  const pid_t launcher =
      mola::test::start({"train", exp, "--db", db, "--nproc", "2"}, dir / "out", dir / "err");
  ASSERT_TRUE(mola::test::waitFor([&] {
    try {
      return RunStore::open(db, false).checkpoints(1).size() >= 1;
    } catch (const std::exception&) {
      return false;
    }
  })) << slurp(dir / "err");
  std::smatch m;
  const std::string started = slurp(dir / "err");
  ASSERT_TRUE(std::regex_search(started, m, std::regex("1: pid ([0-9]+)"))) << started;
  const pid_t rank1 = pid_t(std::stoi(m[1]));
  ASSERT_EQ(kill(rank1, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(waitpid(launcher, &status, 0), launcher);
  const std::string err = slurp(dir / "err");
  ASSERT_TRUE(WIFEXITED(status)) << err;
  EXPECT_EQ(WEXITSTATUS(status), 1) << err;
  EXPECT_TRUE(has(err, "rank 1 (pid " + std::to_string(rank1) + ") was killed by signal 9")) << err;
  EXPECT_TRUE(has(err, "rank 1 is gone")) << "rank 0's own account names the rank:\n" << err;
  {
    const mola::RunRecord rec = RunStore::open(db, false).run(1);
    EXPECT_EQ(rec.status, RunStatus::Interrupted) << rec.message;
    EXPECT_TRUE(has(rec.message, "rank 1 is gone")) << rec.message;
    EXPECT_LT(rec.last_step, 80);
  }

  Result r = run("resume 1 --nproc 3 --db " + db);
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_TRUE(has(r.err, "run 1 was trained by 2 processes; resume it with --nproc 2")) << r.err;
  EXPECT_EQ(RunStore::open(db, false).run(1).status, RunStatus::Interrupted);

  r = run("resume 1 --db " + db);  // two ranks again, from the run's own settings
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.err, "2 ranks on 127.0.0.1:")) << r.err;
  EXPECT_TRUE(has(r.err, "resuming run 1 from step ")) << r.err;
  const mola::RunRecord rec = RunStore::open(db, false).run(1);
  EXPECT_EQ(rec.status, RunStatus::Completed) << rec.message;
  EXPECT_EQ(rec.last_step, 80);
}

// torchrun (or Slurm) starts `mola train` unchanged on every rank with its variables.
TEST(CliDataParallel, RanksStartedAsTorchrunStartsThem) {
  const fs::path dir = mola::test::tempDir("cli_dist_torchrun");
  const std::string exp = writeSplitExperiment(dir, 4, 0, 0).string();
  const std::string db = (dir / "runs.sqlite").string();
  const std::string port = std::to_string(29000 + getpid() % 1000);
  std::vector<pid_t> ranks;
  for (int rank = 0; rank < 2; ++rank) {
    const pid_t pid = fork();
    if (pid == 0) {
      setenv("WORLD_SIZE", "2", 1);
      setenv("RANK", std::to_string(rank).c_str(), 1);
      setenv("LOCAL_RANK", std::to_string(rank).c_str(), 1);
      setenv("MASTER_ADDR", "127.0.0.1", 1);
      setenv("MASTER_PORT", port.c_str(), 1);
      const std::string out = (dir / ("out" + std::to_string(rank))).string();
      const std::string err = (dir / ("err" + std::to_string(rank))).string();
      freopen(out.c_str(), "w", stdout);
      freopen(err.c_str(), "w", stderr);
      execl(MOLA_CLI, MOLA_CLI, "train", exp.c_str(), "--db", db.c_str(), nullptr);
      _exit(127);
    }
    ranks.push_back(pid);
  }
  for (int rank = 0; rank < 2; ++rank) {
    int status = 0;
    ASSERT_EQ(waitpid(ranks[size_t(rank)], &status, 0), ranks[size_t(rank)]);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "rank " << rank << ":\n"
        << slurp(dir / ("err" + std::to_string(rank)));
  }
  RunStore store = RunStore::open(db, false);
  ASSERT_EQ(store.listRuns().size(), 1u) << "one run, created by rank 0";
  const mola::RunRecord rec = store.run(1);
  EXPECT_EQ(rec.status, RunStatus::Completed);
  EXPECT_EQ(rec.last_step, 4);
  EXPECT_TRUE(has(rec.config_json, "\"processes\": 2")) << rec.config_json;
  EXPECT_TRUE(has(slurp(dir / "err0"), "2 processes")) << slurp(dir / "err0");
}

}  // namespace
