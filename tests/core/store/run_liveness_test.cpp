// SPDX-License-Identifier: GPL-3.0-or-later
// Which run is live, with real processes: the run lock held by a trainer, claims of one run by
// several processes, rows from before run locks, the locks of a process with several connections,
// and a writer killed with the database open.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "in_child.h"
#include "shared_data.h"
#include "store/run_store.h"
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

TEST(RunStore, ARunIsLiveWhileItsTrainerHoldsTheRunLock) {
  const fs::path db = test::tempDir("store_liveness") / "runs.sqlite";
  RunStore::open(db);
  test::StoreProbe trainer({"create", db.string()});
  const int64_t live = trainer.createdRun();
  ASSERT_GT(live, 0) << trainer.answer();
  RunStore store = RunStore::open(db);
  const int64_t mine = store.createRun("this process's", "{}", "2", "tiny");
  EXPECT_TRUE(store.isLive(live));
  EXPECT_TRUE(store.isLive(mine));
  // Whatever the row says about the process (another host name, a pid from another PID
  // namespace, a pid that has ended): the lock decides.
  {
    RawDb raw(db);
    raw.exec("UPDATE runs SET hostname = 'a-container', pid = " + std::to_string(deadPid()) +
             " WHERE id = " + std::to_string(live));
  }
  EXPECT_EQ(store.markInterruptedRuns(), 0);
  EXPECT_EQ(store.run(live).status, RunStatus::Running);
  EXPECT_EQ(RunStore::openReadOnly(db).run(live).status, RunStatus::Running);
  expectStoreError([&] { store.claimRun(live); }, "is being trained by another process (pid ");
  expectStoreError([&] { store.deleteRun(live); }, "is being trained by a live process");

  trainer.end();
  EXPECT_FALSE(store.isLive(live));
  // Read before it is marked, the run already shows as interrupted (a read-only store cannot
  // mark it).
  const RunRecord seen = RunStore::openReadOnly(db).run(live);
  EXPECT_EQ(seen.status, RunStatus::Interrupted);
  EXPECT_NE(seen.message.find("on a-container) ended without finishing it"), std::string::npos)
      << seen.message;
  EXPECT_EQ(store.markInterruptedRuns(), 1);
  EXPECT_EQ(store.run(live).status, RunStatus::Interrupted);
  EXPECT_TRUE(isIsoUtc(store.run(live).finished_at));
  EXPECT_EQ(store.run(mine).status, RunStatus::Running);
  EXPECT_EQ(store.markInterruptedRuns(), 0);

  // Claimed again, the run belongs to this store: another process cannot take it.
  store.claimRun(live);
  EXPECT_TRUE(store.isLive(live));
  test::StoreProbe thief({"claim", db.string(), std::to_string(live)});
  EXPECT_NE(thief.answer().find("is being trained by another process"), std::string::npos)
      << thief.answer();
  store.setStatus(live, RunStatus::Stopped);
  EXPECT_FALSE(store.isLive(live));
}

TEST(RunStore, OfTwoProcessesClaimingOneRunExactlyOneWins) {
  const fs::path db = test::tempDir("store_claim_race") / "runs.sqlite";
  int64_t run = 0;
  {
    RunStore store = RunStore::open(db);
    run = store.createRun("contested", "{}", "2", "tiny");
    store.setStatus(run, RunStatus::Stopped);
  }
  for (int round = 0; round < 5; ++round) {
    // Started together; each answers once it has claimed the run or failed to.
    std::vector<std::unique_ptr<test::StoreProbe>> claimers;
    std::vector<std::thread> starters;
    claimers.resize(3);
    for (size_t i = 0; i < claimers.size(); ++i)
      starters.emplace_back([&, i] {
        claimers[i] = std::make_unique<test::StoreProbe>(
            std::vector<std::string>{"claim", db.string(), std::to_string(run)});
      });
    for (std::thread& t : starters) t.join();
    int winners = 0;
    std::string answers;
    for (const auto& c : claimers) {
      winners += c->answer() == "claimed " + std::to_string(run);
      answers += c->answer() + "\n";
    }
    EXPECT_EQ(winners, 1) << "round " << round << ":\n" << answers;
    claimers.clear();
    RunStore store = RunStore::open(db);
    EXPECT_EQ(store.markInterruptedRuns(), 1);
  }
}

TEST(RunStore, RowsFromBeforeRunLocksFallBackToThePid) {
  const fs::path db = test::tempDir("store_interrupted_v1") / "runs.sqlite";
  RunStore store = RunStore::open(db);
  std::vector<int64_t> runs;
  for (const char* name : {"alive", "dead pid", "other host", "reused pid"}) {
    runs.push_back(store.createRun(name, "{}", "2", "tiny"));
    store.setStatus(runs.back(), RunStatus::Stopped);
  }
  {
    // As a version 1 program left them: running, no run folder, only a pid to go by.
    RawDb raw(db);
    raw.exec("UPDATE runs SET status = 'running', pid = " + std::to_string(getpid()));
    raw.exec("UPDATE runs SET pid = " + std::to_string(deadPid()) +
             " WHERE id = " + std::to_string(runs[1]));
    raw.exec("UPDATE runs SET hostname = 'another-host' WHERE id = " + std::to_string(runs[2]));
    raw.exec("UPDATE runs SET process_tag = 'another-boot/1' WHERE id = " +
             std::to_string(runs[3]));
  }
  for (int64_t id : runs) fs::remove_all(store.runDirectory(id));
  EXPECT_EQ(store.markInterruptedRuns(), 3);
  EXPECT_EQ(store.run(runs[0]).status, RunStatus::Running);
  for (size_t i = 1; i < runs.size(); ++i) {
    const RunRecord r = store.run(runs[i]);
    EXPECT_EQ(r.status, RunStatus::Interrupted) << r.name;
    EXPECT_NE(r.message.find("ended without finishing it"), std::string::npos) << r.message;
  }
  EXPECT_NE(store.run(runs[2]).message.find("on another-host"), std::string::npos);
  expectStoreError([&] { store.claimRun(runs[0]); }, "is being trained by another process");
}

// A GUI run used to lose every write after another process read the database: opening the file a
// second time in the trainer's process (the views' own store, a header check with an ifstream)
// dropped the POSIX locks of the trainer's connection, so the next process to close its connection
// took the database for unused, checkpointed it and deleted the -wal and -shm files under the
// trainer.
TEST(RunStore, OtherConnectionsInTheProcessKeepTheWritersLocks) {
  const fs::path db = test::tempDir("store_same_process") / "runs.sqlite";
  RunStore writer = RunStore::open(db);
  const int64_t run = writer.createRun("trains", "{}", "2", "tiny");
  writer.addMetrics(run, {{1, "loss", 1.0}});
  for (int i = 0; i < 3; ++i) {
    // As the workbench's views do while a run trains: more stores on the same file.
    RunStore view = RunStore::open(db);
    EXPECT_EQ(view.listRuns().size(), 1u);
    EXPECT_EQ(RunStore::openReadOnly(db).metrics(run, "loss").size(), size_t(1));
  }
  for (int i = 0; i < 3; ++i) {
    // Another process reads and closes, as `mola runs list` does.
    test::StoreProbe reader({"lock", db.string(), "0"});
    EXPECT_EQ(reader.answer(), "locked");
  }
  ASSERT_TRUE(fs::exists(db.string() + "-wal")) << "the log was deleted under a live connection";
  for (int64_t step = 2; step <= 10; ++step) writer.addMetrics(run, {{step, "loss", 1.0 / step}});
  test::StoreProbe last({"lock", db.string(), "0"});
  last.end();
  EXPECT_EQ(RunStore::openReadOnly(db).metrics(run, "loss").size(), 10u);
  writer.setStatus(run, RunStatus::Completed);
  EXPECT_EQ(writer.listRuns().at(0).status, RunStatus::Completed);
}

TEST(RunStore, KilledWriterLeavesAConsistentInterruptedRun) {
  const fs::path db = test::tempDir("store_killed") / "runs.sqlite";
  // A trainer process creates the store, writes, and is killed with the database open.
  const std::string child = test::inChild([&]() -> std::string {
    RunStore store = RunStore::open(db);
    const int64_t run = store.createRun("killed", "{}", "2", "tiny");
    for (int64_t step = 1; step <= 10; ++step) store.addMetrics(run, {{step, "loss", 0.5}});
    raise(SIGKILL);
    return "still alive";
  });
  EXPECT_EQ(child, "child died with signal " + std::to_string(SIGKILL));
  ASSERT_TRUE(fs::exists(fs::path(db.string() + "-wal")));  // the log was never checkpointed

  RunStore store = RunStore::open(db);
  ASSERT_EQ(store.listRuns().size(), 1u);
  const int64_t run = store.listRuns()[0].id;
  EXPECT_EQ(store.run(run).last_step, 10);
  EXPECT_EQ(store.markInterruptedRuns(), 1);
  EXPECT_EQ(store.run(run).status, RunStatus::Interrupted);
  EXPECT_EQ(store.metrics(run, "loss").size(), 10u);
}

}  // namespace
}  // namespace mola
