// SPDX-License-Identifier: GPL-3.0-or-later
// Studies, the run queue, notes and tags on real SQLite files: queue order, extending a study,
// two stores taking items from one queue, cancelled and moved items, deleted runs, old files.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "shared_data.h"
#include "store/run_store.h"
#include "store_test_support.h"

namespace mola {
namespace {

namespace fs = std::filesystem;
using test::expectStoreError;

QueuedRun item(const std::string& variant, int64_t seed, const std::string& config = "{}") {
  return {variant, seed, "s/" + variant + "/seed" + std::to_string(seed), config, "2,2", "tiny"};
}

std::vector<QueuedRun> grid(const std::vector<std::string>& variants, std::vector<int64_t> seeds) {
  std::vector<QueuedRun> out;
  for (const auto& v : variants)
    for (int64_t s : seeds) out.push_back(item(v, s));
  return out;
}

std::vector<std::string> waitingNames(const RunStore& store, int64_t study = 0) {
  std::vector<std::string> names;
  for (const QueueItem& q : store.queueItems(study))
    if (q.state == QueueState::Waiting) names.push_back(q.name);
  return names;
}

TEST(RunQueue, StudyRunsStartInQueueOrderAndCarryTheirVariant) {
  RunStore store = RunStore::open(test::tempDir("queue_order") / "runs.sqlite");
  const StudyAdded added = store.addStudy("s", "{\"doc\": 1}", "b", grid({"a", "b"}, {1, 2}));
  EXPECT_EQ(added.added, 4);
  EXPECT_EQ(added.existing, 0);
  EXPECT_EQ(store.study(added.id).baseline, "b");
  EXPECT_EQ(store.study(added.id).spec_json, "{\"doc\": 1}");
  EXPECT_TRUE(test::isIsoUtc(store.study(added.id).created_at));
  EXPECT_EQ(waitingNames(store),
            (std::vector<std::string>{"s/a/seed1", "s/a/seed2", "s/b/seed1", "s/b/seed2"}));
  const auto first = store.startNextQueued(added.id);
  ASSERT_TRUE(first);
  const RunRecord run = store.run(first->second);
  EXPECT_EQ(run.name, "s/a/seed1");
  EXPECT_EQ(run.status, RunStatus::Running);
  EXPECT_EQ(run.allocation, "2,2");
  EXPECT_EQ(run.study, added.id);
  EXPECT_EQ(run.variant, "a");
  EXPECT_TRUE(store.isLive(run.id));
  const std::vector<QueueItem> items = store.queueItems(added.id);
  EXPECT_EQ(items[0].state, QueueState::Started);
  EXPECT_EQ(items[0].run, run.id);
  EXPECT_EQ(items[0].seed, 1);
  EXPECT_EQ(waitingNames(store).size(), 3u);
  // A run queued on its own goes after the study's.
  const int64_t lone = store.enqueue(item("", 0));
  EXPECT_EQ(store.queueItems().back().id, lone);
  EXPECT_EQ(store.queueItems().back().study, 0);
  EXPECT_EQ(store.queueItems(added.id).size(), 4u);
}

TEST(RunQueue, AMovedStoreKeepsItsStudies) {
  RunStore store = RunStore::open(test::tempDir("queue_moved") / "runs.sqlite");
  store.addStudy("s", "{}", "a", grid({"a"}, {1}));
  RunStore moved(std::move(store));
  EXPECT_EQ(moved.listStudies().size(), 1u);
  RunStore assigned = RunStore::open(test::tempDir("queue_moved_other") / "runs.sqlite");
  assigned = std::move(moved);
  EXPECT_EQ(assigned.listStudies().size(), 1u);
  EXPECT_EQ(assigned.queueItems().size(), 1u);
}

TEST(RunQueue, AStudyQueuedAgainGetsOnlyWhatItLacks) {
  RunStore store = RunStore::open(test::tempDir("queue_extend") / "runs.sqlite");
  const int64_t id = store.addStudy("s", "{}", "a", grid({"a", "b"}, {1})).id;
  store.startNextQueued(id);
  const StudyAdded again = store.addStudy("s", "{\"v\": 2}", "b", grid({"a", "b"}, {1, 2}));
  EXPECT_EQ(again.id, id);
  EXPECT_EQ(again.added, 2);
  EXPECT_EQ(again.existing, 2);
  EXPECT_EQ(store.study(id).baseline, "b");
  EXPECT_EQ(store.queueItems(id).size(), 4u);
  EXPECT_EQ(store.listStudies().size(), 1u);
  // The same pair with another configuration is refused, and nothing of the call is kept.
  std::vector<QueuedRun> changed = grid({"c"}, {1});
  changed.push_back(item("a", 1, "{\"lr\": 1}"));
  expectStoreError([&] { store.addStudy("s", "{}", "a", changed); },
                   "already has variant 'a' with seed 1 and another configuration");
  EXPECT_EQ(store.queueItems(id).size(), 4u);
  EXPECT_EQ(store.study(id).baseline, "b");
  EXPECT_FALSE(store.findStudy("t"));
  EXPECT_EQ(store.findStudy("s")->id, id);
  expectStoreError([&] { store.study(99); }, "no study with id 99");
}

TEST(RunQueue, TwoStoresNeverStartOneItemTwice) {
  const fs::path db = test::tempDir("queue_two") / "runs.sqlite";
  RunStore a = RunStore::open(db), b = RunStore::open(db);
  a.addStudy("s", "{}", "a", grid({"a", "b", "c"}, {1, 2}));
  std::set<int64_t> items, runs;
  for (int i = 0; i < 3; ++i) {
    for (RunStore* s : {&a, &b}) {
      const auto next = s->startNextQueued();
      ASSERT_TRUE(next);
      EXPECT_TRUE(items.insert(next->first).second) << "item " << next->first << " twice";
      runs.insert(next->second);
    }
  }
  EXPECT_EQ(items.size(), 6u);
  EXPECT_EQ(runs.size(), 6u);
  EXPECT_FALSE(a.startNextQueued());
  EXPECT_FALSE(b.startNextQueued());
}

TEST(RunQueue, CancelMoveAndADeletedRunWaitingAgain) {
  RunStore store = RunStore::open(test::tempDir("queue_edit") / "runs.sqlite");
  const int64_t id = store.addStudy("s", "{}", "a", grid({"a", "b", "c", "d"}, {1})).id;
  const std::vector<QueueItem> items = store.queueItems(id);
  store.moveQueued(items[3].id, items[1].id);  // d before b
  EXPECT_EQ(waitingNames(store),
            (std::vector<std::string>{"s/a/seed1", "s/d/seed1", "s/b/seed1", "s/c/seed1"}));
  store.moveQueued(items[0].id, 0);  // a to the end
  EXPECT_EQ(waitingNames(store),
            (std::vector<std::string>{"s/d/seed1", "s/b/seed1", "s/c/seed1", "s/a/seed1"}));
  store.moveQueued(items[0].id, items[3].id);  // a to the front
  EXPECT_EQ(waitingNames(store).front(), "s/a/seed1");
  store.cancelQueued(items[1].id);
  EXPECT_EQ(store.queueItems(id)[2].state, QueueState::Cancelled);
  expectStoreError([&] { store.moveQueued(items[1].id, 0); }, "is cancelled, not waiting");
  std::vector<std::string> started;
  while (auto next = store.startNextQueued(id)) {
    started.push_back(store.run(next->second).name);
    store.setStatus(next->second, RunStatus::Completed);
  }
  EXPECT_EQ(started, (std::vector<std::string>{"s/a/seed1", "s/d/seed1", "s/c/seed1"}));
  expectStoreError([&] { store.cancelQueued(items[0].id); }, "has started as run");
  expectStoreError([&] { store.cancelQueued(999); }, "no queue item 999");
  // Deleting a study's run puts its item back in the queue.
  const int64_t run_a = store.queueItems(id)[0].run;
  store.deleteRun(run_a);
  EXPECT_EQ(waitingNames(store, id), (std::vector<std::string>{"s/a/seed1"}));
  const auto again = store.startNextQueued(id);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->first, items[0].id);
  EXPECT_NE(again->second, run_a);
}

TEST(RunQueue, NotesAndTags) {
  RunStore store = RunStore::open(test::tempDir("queue_tags") / "runs.sqlite");
  const int64_t run = store.createRun("r", "{}", "2", "tiny");
  EXPECT_EQ(store.run(run).note, "");
  EXPECT_TRUE(store.run(run).tags.empty());
  store.setNote(run, "lr too high?\nsecond line");
  store.setTags(run, {" baseline ", "seed-sweep", "", "baseline", "ümlaut"});
  const RunRecord r = store.run(run);
  EXPECT_EQ(r.note, "lr too high?\nsecond line");
  EXPECT_EQ(r.tags, (std::vector<std::string>{"baseline", "seed-sweep", "ümlaut"}));
  EXPECT_EQ(store.listRuns()[0].tags, r.tags);
  store.setTags(run, {});
  EXPECT_TRUE(store.run(run).tags.empty());
  expectStoreError([&] { store.setNote(77, "x"); }, "no run with id 77");
  expectStoreError([&] { store.setTags(77, {"x"}); }, "no run with id 77");
  EXPECT_EQ(store.run(run).study, 0);
  EXPECT_EQ(store.run(run).variant, "");
}

TEST(RunQueue, AVersion2FileIsUpgradedAndReadsWithoutStudiesReadOnly) {
  const fs::path db = test::tempDir("queue_v2") / "runs.sqlite";
  const std::vector<std::string> v2 = {RunStore::migrations()[0], RunStore::migrations()[1]};
  int64_t run = 0;
  {
    RunStore old = RunStore::openWithMigrations(db, true, v2);
    run = old.createRun("from version 2", "{}", "2", "tiny");
    old.setStatus(run, RunStatus::Completed);
    expectStoreError([&] { old.enqueue(item("", 0)); }, "schema version 2");
    expectStoreError([&] { old.setNote(run, "x"); }, "schema version 2");
    EXPECT_TRUE(old.queueItems().empty());
  }
  {
    const RunStore reader = RunStore::openReadOnly(db);
    EXPECT_EQ(reader.run(run).name, "from version 2");
    EXPECT_EQ(reader.run(run).note, "");
    EXPECT_TRUE(reader.listStudies().empty());
    EXPECT_TRUE(reader.queueItems().empty());
    expectStoreError([&] { reader.study(1); }, "no study with id 1");
  }
  RunStore store = RunStore::open(db);
  EXPECT_EQ(store.run(run).name, "from version 2");
  EXPECT_EQ(store.run(run).status, RunStatus::Completed);
  store.setNote(run, "kept");
  EXPECT_EQ(store.run(run).note, "kept");
  EXPECT_EQ(store.addStudy("s", "{}", "a", grid({"a"}, {1})).added, 1);
}

}  // namespace
}  // namespace mola
