// SPDX-License-Identifier: GPL-3.0-or-later
// The run store's schema: a version-0 file completed, a migration step that keeps the data (and a
// failing one that changes nothing), newer files refused untouched, version-1 stores upgraded with
// an identity.
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

TEST(RunStore, MigratesAVersion0File) {
  const fs::path db = test::tempDir("store_v0") / "runs.sqlite";
  {
    RawDb raw(db);  // a store whose creation never got past setting the marker
    raw.exec("PRAGMA application_id = 1297042497; PRAGMA user_version = 0");
  }
  RunStore store = RunStore::open(db);
  store.createRun("migrated", "{}", "2", "tiny");
  RawDb raw(db);
  EXPECT_EQ(raw.integer("PRAGMA user_version"), RunStore::kSchemaVersion);
  EXPECT_EQ(raw.integer("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN "
                        "('runs', 'metrics', 'router_stats', 'router_layer_stats', "
                        "'eval_scores', 'predictions', 'checkpoints')"),
            7);
}

TEST(RunStore, MigrationStepKeepsDataAndNewerFilesAreRefused) {
  const fs::path db = test::tempDir("store_migrate") / "runs.sqlite";
  const int current = RunStore::kSchemaVersion, next = current + 1;
  const std::string from_to =
      "from version " + std::to_string(current) + " to " + std::to_string(next);
  int64_t run = 0;
  {
    RunStore store = RunStore::open(db);
    run = store.createRun("before the upgrade", "{}", "2", "tiny");
    store.addMetrics(run, {{1, "loss", 0.5}, {2, "loss", 0.25}});
    store.setStatus(run, RunStatus::Completed);
  }
  std::vector<std::string> upgraded_steps = RunStore::migrations();
  upgraded_steps.push_back(
      "ALTER TABLE runs ADD COLUMN tag TEXT NOT NULL DEFAULT 'untagged';"
      "CREATE TABLE notes (run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE, text TEXT);"
      "INSERT INTO notes SELECT id, 'upgraded ' || name FROM runs");

  // A failing step leaves the file at its version, untouched by the steps before it.
  std::vector<std::string> broken = upgraded_steps;
  broken.back() += "; THIS IS NOT SQL";
  expectStoreError([&] { RunStore::openWithMigrations(db, true, broken); },
                   "upgrading the schema " + from_to + " failed");
  {
    RawDb raw(db);
    EXPECT_EQ(raw.integer("PRAGMA user_version"), current);
    EXPECT_EQ(raw.integer("SELECT count(*) FROM sqlite_schema WHERE name = 'notes'"), 0);
  }

  {
    RunStore upgraded = RunStore::openWithMigrations(db, true, upgraded_steps);
    EXPECT_EQ(upgraded.metrics(run, "loss").size(), 2u);
    EXPECT_EQ(upgraded.metrics(run, "loss")[1].value, 0.25);
    upgraded.setStatus(upgraded.createRun("after the upgrade", "{}", "2", "tiny"),
                       RunStatus::Completed);
  }
  {
    RawDb raw(db);
    EXPECT_EQ(raw.integer("PRAGMA user_version"), next);
    EXPECT_EQ(raw.text("SELECT tag FROM runs WHERE id = " + std::to_string(run)), "untagged");
    EXPECT_EQ(raw.text("SELECT text FROM notes"), "upgraded before the upgrade");
  }

  // This build only knows the current version: it must not touch a newer file.
  const std::string before = readBytes(db);
  expectStoreError([&] { RunStore::open(db); },
                   db.string() + ": was written by a newer MoLA Workbench (schema version " +
                       std::to_string(next) + "; this program reads up to version " +
                       std::to_string(current) + ")");
  EXPECT_EQ(readBytes(db), before);
}

TEST(RunStore, Version1StoresGetAnIdentityAndKeepTheirRuns) {
  const fs::path db = test::tempDir("store_v1_upgrade") / "runs.sqlite";
  const std::vector<std::string> v1 = {RunStore::migrations()[0]};
  int64_t run = 0;
  {
    RunStore old = RunStore::openWithMigrations(db, true, v1);
    EXPECT_EQ(old.storeId(), "");
    run = old.createRun("from version 1", "{}", "2", "tiny");
    old.addCheckpoint(run, 4, (db.parent_path() / "runs/1/checkpoints/step-4").string());
    old.setStatus(run, RunStatus::Stopped);
  }
  RunStore store = RunStore::open(db);
  EXPECT_EQ(store.storeId().size(), 32u);
  EXPECT_EQ(store.storeId().find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(store.run(run).name, "from version 1");
  ASSERT_EQ(store.checkpoints(run).size(), 1u);
  EXPECT_EQ(store.checkpoints(run)[0].path,
            (db.parent_path() / "runs/1/checkpoints/step-4").string());
  // The identity is the file's, not the connection's.
  EXPECT_EQ(RunStore::open(db).storeId(), store.storeId());
  EXPECT_EQ(RunStore::openReadOnly(db).storeId(), store.storeId());
  const fs::path other = test::tempDir("store_v1_other") / "runs.sqlite";
  EXPECT_NE(RunStore::open(other).storeId(), store.storeId());
}

}  // namespace
}  // namespace mola
