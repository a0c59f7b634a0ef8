// SPDX-License-Identifier: GPL-3.0-or-later
// Faults around `mola train` with the real binary and real files: a kill at every phase (a step,
// each stage of writing a checkpoint, an evaluation) followed by `mola resume` gives the
// uninterrupted run's curves bit for bit; two databases in one folder keep their checkpoints
// apart; a relative --db resumes from anywhere; a live run cannot be deleted or claimed twice; a
// read-only database still lists; a full disk during a checkpoint is a named error and the run
// resumes; readers and writers hammering the file lose no step.
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "cli_runner.h"
#include "in_child.h"
#include "store/run_store.h"

namespace {

namespace fs = std::filesystem;
using mola::RunStatus;
using mola::RunStore;
using mola::test::has;
using mola::test::Result;
using mola::test::run;
using mola::test::slurp;
using mola::test::start;
using mola::test::waitFor;
using mola::test::writeExperiment;

// 12 steps, checkpoints every 4, evaluations at 6 and 12, router statistics every 3, dropout on:
// every generator and every accumulator must come back for a resume to be exact.
fs::path experiment(const fs::path& dir) {
  return writeExperiment(dir, 12, 4);
}
const std::string kDropout = " --set adapter.dropout=0.1";

// What a run stored, with the values a resume must reproduce exactly (not the timings).
struct Stored {
  RunStatus status = RunStatus::Running;
  std::map<std::string, std::vector<std::pair<int64_t, double>>> metrics;
  std::vector<std::pair<int64_t, double>> scores;
  std::vector<mola::RouterStatsSnapshot> router;
  std::vector<mola::CheckpointRecord> checkpoints;
};

Stored readRun(const fs::path& db, int64_t id = 1) {
  const RunStore store = RunStore::openReadOnly(db);
  Stored s;
  s.status = store.run(id).status;
  for (const char* name : {"loss", "balance_loss", "lr", "grad_norm"})
    for (const mola::MetricPoint& p : store.metrics(id, name))
      s.metrics[name].emplace_back(p.step, p.value);
  for (const mola::EvalScore& e : store.evalScores(id)) s.scores.emplace_back(e.step, e.accuracy);
  s.router = store.routerStats(id);
  s.checkpoints = store.checkpoints(id);
  return s;
}

void expectSameRun(const Stored& got, const Stored& want, const std::string& what) {
  EXPECT_EQ(got.status, RunStatus::Completed) << what;
  for (const auto& [name, points] : want.metrics)
    EXPECT_EQ(got.metrics.at(name), points) << what << ": " << name << " differs";
  EXPECT_EQ(got.scores, want.scores) << what;
  ASSERT_EQ(got.router.size(), want.router.size()) << what;
  for (size_t i = 0; i < want.router.size(); ++i)
    for (size_t j = 0; j < want.router[i].layers.size(); ++j)
      EXPECT_EQ(got.router[i].layers[j].token_fraction, want.router[i].layers[j].token_fraction)
          << what << ": router statistics of step " << want.router[i].step;
  std::vector<int64_t> steps;
  for (const auto& c : got.checkpoints) steps.push_back(c.step);
  EXPECT_EQ(steps, (std::vector<int64_t>{4, 8, 12})) << what;
}

bool killed(const Result& r) {
  return r.code == 128 + SIGKILL || r.code == -1;
}

TEST(FaultInjection, AKillAtEveryPhaseResumesToTheUninterruptedRun) {
  const fs::path root = mola::test::tempDir("faults_phases");
  const fs::path json = experiment(root);
  const fs::path reference_db = root / "reference.sqlite";
  ASSERT_EQ(run("train " + json.string() + " --db " + reference_db.string() + kDropout).code, 0);
  const Stored reference = readRun(reference_db);
  ASSERT_EQ(reference.metrics.at("loss").size(), 12u);

  // Each kill, then (for some) a second kill while resuming, then a resume to the end.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"train.step@1", ""},                    // before any checkpoint: restarts from step 0
      {"train.step@6", ""},                    // an update done, its step not yet stored
      {"checkpoint.files@2", ""},              // step 8's files written, no manifest
      {"checkpoint.manifest@2", ""},           // step 8 complete but not moved into place
      {"checkpoint.installed@2", ""},          // step 8 in place, not yet in the store
      {"eval@1", ""},                          // inside the evaluation of step 6
      {"train.step@5", "checkpoint.files@1"},  // killed again while resuming
      // Step 8 in place but not recorded, then the resume's new step 8 swapped in and killed
      // before the old one is removed.
      {"checkpoint.installed@2", "checkpoint.replaced@1"}};
  for (const auto& [first, second] : cases) {
    const std::string what = first + (second.empty() ? "" : "-then-" + second);
    const fs::path dir = root / what;
    fs::create_directories(dir);
    const std::string db = (dir / "runs.sqlite").string();
    Result r =
        run("train " + json.string() + " --db " + db + kDropout, "MOLA_FAULT_INJECT=" + first);
    ASSERT_TRUE(killed(r)) << what << ": exit " << r.code << "\n" << r.err;
    EXPECT_EQ(RunStore::openReadOnly(db).run(1).status, RunStatus::Interrupted) << what;
    if (!second.empty()) {
      r = run("resume 1 --db " + db, "MOLA_FAULT_INJECT=" + second);
      ASSERT_TRUE(killed(r)) << what << ": exit " << r.code << "\n" << r.err;
    }
    r = run("resume 1 --db " + db);
    ASSERT_EQ(r.code, 0) << what << "\n" << r.err;
    expectSameRun(readRun(db), reference, what);
    // Nothing half-written is left behind.
    for (const auto& entry : fs::recursive_directory_iterator(db + "-runs"))
      EXPECT_NE(entry.path().extension(), ".tmp") << what << ": " << entry.path() << " was left";
  }
}

TEST(StoreSafety, TwoDatabasesInOneFolderKeepTheirCheckpointsApart) {
  const fs::path dir = mola::test::tempDir("faults_two_stores");
  const fs::path json = experiment(dir);
  const std::string a = (dir / "a.sqlite").string(), b = (dir / "b.sqlite").string();
  const fs::path reference_db = dir / "reference.sqlite";
  ASSERT_EQ(run("train " + json.string() + " --db " + reference_db.string()).code, 0);
  // Run 1 of a.sqlite is killed after its checkpoint at step 4; run 1 of b.sqlite (another
  // experiment) then writes its own checkpoint of step 4 in the same folder.
  ASSERT_TRUE(
      killed(run("train " + json.string() + " --db " + a, "MOLA_FAULT_INJECT=train.step@6")));
  ASSERT_EQ(run("train " + json.string() + " --db " + b + " --set training.seed=99").code, 0);
  EXPECT_NE(readRun(a).checkpoints.at(0).path, readRun(b).checkpoints.at(0).path);
  // Deleting b's run leaves a's checkpoints alone; a resumes from its own.
  ASSERT_EQ(run("runs delete 1 --db " + b).code, 0);
  EXPECT_FALSE(fs::exists(b + "-runs/1"));
  const Result r = run("resume 1 --db " + a);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.err, "resuming run 1 from step 4 (" + a + "-runs/1/")) << r.err;
  expectSameRun(readRun(a), readRun(reference_db), "a.sqlite resumed");
}

TEST(StoreSafety, ARelativeDatabasePathResumesFromAnotherDirectory) {
  const fs::path dir = mola::test::tempDir("faults_relative");
  fs::create_directories(dir / "elsewhere");
  const fs::path json = experiment(dir);
  ASSERT_TRUE(killed(run("train " + json.string() + " --db runs.sqlite",
                         "cd " + dir.string() + " && MOLA_FAULT_INJECT=train.step@6")));
  const Stored killed_run = readRun(dir / "runs.sqlite");
  ASSERT_FALSE(killed_run.checkpoints.empty());
  EXPECT_EQ(killed_run.checkpoints[0].path,
            (dir / "runs.sqlite-runs/1/checkpoints/step-4").string());
  const Result r =
      run("resume 1 --db ../runs.sqlite", "cd " + (dir / "elsewhere").string() + " &&");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(readRun(dir / "runs.sqlite").status, RunStatus::Completed);
}

TEST(StoreSafety, ALiveRunCanBeNeitherDeletedNorResumedTwice) {
  const fs::path dir = mola::test::tempDir("faults_live");
  const fs::path db = dir / "runs.sqlite";
  const pid_t pid = start({"train", writeExperiment(dir, 400, 0).string(), "--db", db.string()},
                          dir / "out", dir / "err");
  ASSERT_TRUE(waitFor([&] {
    try {
      return fs::exists(db) && RunStore::openReadOnly(db).run(1).last_step >= 2;
    } catch (const mola::StoreError&) {
      return false;
    }
  })) << slurp(dir / "err");
  Result r = run("runs delete 1 --db " + db.string());
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "run 1 is being trained by a live process")) << r.err;
  r = run("resume 1 --db " + db.string());
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "run 1 is being trained by another process (pid " + std::to_string(pid)))
      << r.err;
  r = run("runs list --db " + db.string());
  EXPECT_TRUE(has(r.out, "running")) << r.out;
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_EQ(RunStore::openReadOnly(db).run(1).status, RunStatus::Stopped);
  ASSERT_EQ(run("runs delete 1 --db " + db.string()).code, 0);
  EXPECT_FALSE(fs::exists(db.string() + "-runs/1"));
}

// The prefix that runs a command as the user 'nobody' when the tests run as root (who may write
// anywhere).
std::string asUnprivileged() {
  return geteuid() == 0 ? "setpriv --reuid=65534 --regid=65534 --clear-groups" : "";
}

TEST(StoreSafety, AReadOnlyDatabaseStillListsAndShowsAndCreatesNothing) {
  const fs::path dir = mola::test::tempDir("faults_read_only");
  const fs::path db = dir / "ro" / "runs.sqlite";
  fs::create_directories(db.parent_path());
  ASSERT_EQ(run("train " + experiment(dir).string() + " --db " + db.string() +
                " --set training.max_steps=4")
                .code,
            0);
  fs::permissions(dir, fs::perms::all);
  fs::permissions(db, fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
  fs::permissions(db.parent_path(), fs::perms::owner_read | fs::perms::owner_exec |
                                        fs::perms::group_read | fs::perms::group_exec |
                                        fs::perms::others_read | fs::perms::others_exec);
  Result r = run("runs list --db " + db.string(), asUnprivileged());
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "completed")) << r.out;
  r = run("runs show 1 --db " + db.string(), asUnprivileged());
  EXPECT_EQ(r.code, 0) << r.err;
  r = run("train " + experiment(dir).string() + " --db " + db.string(), asUnprivileged());
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "not writable")) << r.err;
  // A read-only command on a database that does not exist creates nothing.
  const fs::path missing = dir / "missing" / "dir" / "x.sqlite";
  r = run("runs list --db " + missing.string());
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "no runs yet")) << r.out;
  r = run("runs show 1 --db " + missing.string());
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "does not exist")) << r.err;
  EXPECT_FALSE(fs::exists(dir / "missing"));
  fs::permissions(db.parent_path(), fs::perms::owner_all, fs::perm_options::add);
}

TEST(StoreSafety, ReadersAndWritersHammeringTheFileLoseNoStep) {
  const fs::path dir = mola::test::tempDir("faults_hammer");
  const fs::path db = dir / "runs.sqlite";
  const fs::path json = writeExperiment(dir, 30, 10);
  ASSERT_EQ(run("runs list --db " + db.string()).code, 0);  // (no database yet)
  const pid_t trainer =
      start({"train", json.string(), "--db", db.string()}, dir / "t.out", dir / "t.err");
  const pid_t writer =
      start({"train", json.string(), "--db", db.string(), "--set", "training.seed=5"},
            dir / "w.out", dir / "w.err");
  std::atomic<bool> done{false};
  std::atomic<int> reads{0}, failures{0};
  std::mutex mutex;
  std::string failed;
  std::vector<std::thread> readers;
  for (int i = 0; i < 2; ++i)
    readers.emplace_back([&] {
      while (!done) {
        const Result r = run("runs list --db " + db.string());
        ++reads;
        if (r.code != 0 && fs::exists(db)) {
          ++failures;
          std::lock_guard<std::mutex> lock(mutex);
          failed += r.err;
        }
      }
    });
  // Another process takes the write lock for longer than SQLite's 5 s busy timeout.
  std::this_thread::sleep_for(std::chrono::seconds(3));
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &raw), SQLITE_OK);
  sqlite3_busy_timeout(raw, 20000);
  ASSERT_EQ(sqlite3_exec(raw, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  std::this_thread::sleep_for(std::chrono::seconds(7));
  sqlite3_exec(raw, "COMMIT", nullptr, nullptr, nullptr);
  int status = 0;
  waitpid(trainer, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << slurp(dir / "t.err");
  waitpid(writer, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << slurp(dir / "w.err");
  done = true;
  for (std::thread& t : readers) t.join();
  EXPECT_GT(reads.load(), 4);
  EXPECT_EQ(failures.load(), 0) << failed;
  for (int64_t id : {1, 2}) {
    const Stored s = readRun(db, id);
    EXPECT_EQ(s.status, RunStatus::Completed) << "run " << id;
    std::vector<int64_t> steps;
    for (const auto& [step, value] : s.metrics.at("loss")) steps.push_back(step);
    std::vector<int64_t> every(30);
    std::iota(every.begin(), every.end(), 1);
    EXPECT_EQ(steps, every) << "run " << id << ": every step once";
  }
  char* err = nullptr;
  std::string check;
  sqlite3_exec(
      raw, "PRAGMA integrity_check",
      [](void* out, int, char** values, char**) {
        *static_cast<std::string*>(out) += values[0] ? values[0] : "";
        return 0;
      },
      &check, &err);
  sqlite3_close(raw);
  EXPECT_EQ(check, "ok");
  EXPECT_TRUE(has(slurp(dir / "t.err") + slurp(dir / "w.err"), "the run store takes writes again"))
      << "the trainers waited for the lock instead of failing";
}

// In a private mount namespace (needs root, as on the project's machines and CI): a 64 MB tmpfs
// holds the database and its checkpoints (8 of about 5 MB); the disk fills while the run trains.
// SQLite answers a connection that wants to switch a brand-new file to WAL while another holds
// a lock at once, without waiting: two trainers started together on a new database, while a
// third process holds it, must both wait and complete.
TEST(StoreSafety, TrainersStartedTogetherOnANewLockedFileWaitAndComplete) {
  const fs::path dir = mola::test::tempDir("faults_new_file");
  const fs::path db = dir / "runs.sqlite";
  const fs::path json = writeExperiment(dir, 3, 0);
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  std::vector<pid_t> trainers;
  for (int i = 0; i < 2; ++i)
    trainers.push_back(start({"train", json.string(), "--db", db.string()},
                             dir / ("out" + std::to_string(i)), dir / ("err" + std::to_string(i))));
  std::this_thread::sleep_for(std::chrono::seconds(3));
  EXPECT_EQ(sqlite3_exec(raw, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(raw);
  for (int i = 0; i < 2; ++i) {
    int status = 0;
    waitpid(trainers[static_cast<size_t>(i)], &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << slurp(dir / ("err" + std::to_string(i)));
  }
  for (int64_t id : {1, 2}) {
    const Stored s = readRun(db, id);
    EXPECT_EQ(s.status, RunStatus::Completed) << "run " << id;
    EXPECT_EQ(s.metrics.at("loss").size(), 3u) << "run " << id;
  }
}

TEST(StoreSafety, AFullDiskDuringACheckpointIsANamedErrorAndTheRunResumes) {
  const fs::path dir = mola::test::tempDir("faults_full_disk");
  const fs::path json = writeExperiment(dir, 40, 5);
  const fs::path disk = dir / "disk";
  fs::create_directories(disk);
  const std::string report = mola::test::inChild([&]() -> std::string {
    std::string out;
    const auto fail = [&](const std::string& why) { out += why + "\n"; };
    if (unshare(CLONE_NEWNS) != 0 || mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) ||
        mount("tmpfs", disk.c_str(), "tmpfs", 0, "size=64m") != 0) {
      out = "SKIP cannot mount a tmpfs here (needs root)";
    } else {
      const fs::path db = disk / "runs.sqlite";
      const pid_t trainer =
          start({"train", json.string(), "--db", db.string()}, dir / "out", dir / "err");
      const bool ready = waitFor([&] {
        try {
          const RunStore store = RunStore::openReadOnly(db);
          return store.checkpoints(1).size() >= 1 && store.run(1).last_step >= 6;
        } catch (const std::exception&) {
          return false;
        }
      });
      if (!ready) fail("the run never reached its first checkpoint: " + slurp(dir / "err"));
      // Fill the disk.
      {
        std::ofstream filler(disk / "filler", std::ios::binary);
        const std::string block(1 << 16, 'x');
        while (filler.write(block.data(), block.size())) {
        }
      }
      int status = 0;
      waitpid(trainer, &status, 0);
      const std::string err = slurp(dir / "err");
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 1)
        fail("the trainer did not end with a named error (status " + std::to_string(status) +
             "): " + err);
      if (!has(err, "No space left on device") || !has(err, "could not be written to"))
        fail("the message names no full disk: " + err);
      if (has(err, "terminate called")) fail("the process aborted: " + err);
      for (const auto& entry : fs::recursive_directory_iterator(db.string() + "-runs"))
        if (entry.path().extension() == ".tmp") fail(entry.path().string() + " was left");
      const Result list = run("runs list --db " + db.string());
      if (list.code != 0) fail("runs list failed on the full disk: " + list.err);
      if (!has(list.out, "failed") && !has(list.out, "interrupted"))
        fail("the run is neither failed nor interrupted: " + list.out);
      fs::remove(disk / "filler");
      const Result resume = run("resume 1 --db " + db.string());
      if (resume.code != 0) fail("resume failed: " + resume.err);
      const Stored s = readRun(db);
      if (s.status != RunStatus::Completed) fail("the resumed run did not complete");
      if (s.metrics.at("loss").size() != 40) fail("not every step once after the resume");
    }
    return out;
  });
  if (report.rfind("SKIP", 0) == 0) GTEST_SKIP() << report;
  EXPECT_EQ(report, "");
}

TEST(StoreSafety, CtrlCWhilePreparingTheBuiltInBaseStopsAtOnce) {
  const fs::path dir = mola::test::tempDir("faults_prepare_stop");
  const fs::path db = dir / "runs.sqlite";
  std::ofstream(dir / "q.json") << R"({"name": "q", "model": {"path": "builtin:tiny-pretrained"},
    "data": {"train": {"path": "synthetic:opposite:64:1"}, "prompt_template": "compact-text"},
    "training": {"max_steps": 2}})";
  ::setenv("MOLA_CACHE_DIR", (dir / "cache").c_str(), 1);  // a cache without the base
  const pid_t pid =
      start({"train", (dir / "q.json").string(), "--db", db.string()}, dir / "out", dir / "err");
  ::unsetenv("MOLA_CACHE_DIR");
  ASSERT_TRUE(waitFor([&] { return has(slurp(dir / "err"), "training the built-in base"); }))
      << slurp(dir / "err");
  const auto asked = std::chrono::steady_clock::now();
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - asked).count();
  ASSERT_TRUE(WIFEXITED(status)) << slurp(dir / "err");
  EXPECT_EQ(WEXITSTATUS(status), 130) << slurp(dir / "err");
  EXPECT_LT(seconds, 10.0);
  const mola::RunRecord r = RunStore::openReadOnly(db).run(1);
  EXPECT_EQ(r.status, RunStatus::Stopped);
  EXPECT_TRUE(has(r.message, "while the built-in base model was being prepared")) << r.message;
  EXPECT_FALSE(fs::exists(dir / "cache" / "tiny-base-training"));
}

}  // namespace
