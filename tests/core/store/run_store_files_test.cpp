// SPDX-License-Identifier: GPL-3.0-or-later
// RunStore and the files it is given: another program's database, an empty file, garbage, a
// truncated or damaged store, a missing or read-only folder, a full disk, the default path, a
// store moved while open.
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
using test::expectStoreError;
using test::RawDb;
using test::readBytes;
using test::writeBytes;

TEST(RunStore, ForeignSqliteDatabaseIsRefusedUnchanged) {
  const fs::path dir = test::tempDir("store_foreign");
  const fs::path db = dir / "contacts.sqlite";
  {
    RawDb raw(db);
    raw.exec("CREATE TABLE contacts (name TEXT); INSERT INTO contacts VALUES ('Ada')");
  }
  const std::string before = readBytes(db);
  ASSERT_GT(before.size(), 0u);
  expectStoreError([&] { RunStore::open(db); },
                   db.string() +
                       ": is another program's SQLite database (application_id "
                       "0x00000000, tables: contacts)");
  expectStoreError([&] { RunStore::open(db, false); }, "left unchanged");
  EXPECT_EQ(readBytes(db), before);
  EXPECT_FALSE(fs::exists(dir / "contacts.sqlite-wal"));
  EXPECT_FALSE(fs::exists(dir / "contacts.sqlite-shm"));

  // Another program's id on a database in WAL mode; and an id-less one with a schema version.
  const fs::path other = dir / "other.sqlite";
  {
    RawDb raw(other);
    raw.exec("PRAGMA journal_mode = WAL; PRAGMA application_id = 1234; CREATE TABLE t (x)");
  }
  const std::string other_before = readBytes(other);
  expectStoreError([&] { RunStore::open(other); }, "application_id 0x000004D2, tables: t)");
  EXPECT_EQ(readBytes(other), other_before);
  EXPECT_FALSE(fs::exists(dir / "other.sqlite-wal"));

  const fs::path versioned = dir / "versioned.sqlite";
  {
    RawDb raw(versioned);
    raw.exec("CREATE TABLE t (x); DROP TABLE t; PRAGMA user_version = 3");
  }
  const std::string versioned_before = readBytes(versioned);
  expectStoreError([&] { RunStore::open(versioned); }, "tables: none");
  EXPECT_EQ(readBytes(versioned), versioned_before);
}

TEST(RunStore, EmptySqliteFileBecomesAStore) {
  const fs::path dir = test::tempDir("store_empty");
  const fs::path db = dir / "empty.sqlite";
  {
    RawDb raw(db);
    raw.exec("CREATE TABLE t (x); DROP TABLE t");
  }
  ASSERT_GT(fs::file_size(db), 0u);
  RunStore::open(db).createRun("a", "{}", "2", "tiny");
  EXPECT_EQ(RunStore::open(db).listRuns().size(), 1u);

  writeBytes(dir / "zero.sqlite", "");
  expectStoreError([&] { RunStore::open(dir / "zero.sqlite", false); }, "is empty");
  RunStore::open(dir / "zero.sqlite").createRun("b", "{}", "2", "tiny");
  EXPECT_EQ(RunStore::open(dir / "zero.sqlite").listRuns().size(), 1u);
}

TEST(RunStore, GarbageFilesAreRefusedUnchanged) {
  const fs::path dir = test::tempDir("store_garbage");
  const fs::path text = dir / "notes.txt";
  writeBytes(text, "These are my notes, not a database.\n");
  expectStoreError([&] { RunStore::open(text); },
                   text.string() +
                       ": is not an SQLite database (it does not start with the "
                       "SQLite header); it was left unchanged");
  EXPECT_EQ(readBytes(text), "These are my notes, not a database.\n");

  // 8 KiB of deterministic noise.
  std::string noise(8192, '\0');
  uint32_t x = 12345;
  for (char& c : noise) {
    x = x * 1664525u + 1013904223u;
    c = static_cast<char>(x >> 24);
  }
  const fs::path noisy = dir / "noise.bin";
  writeBytes(noisy, noise);
  expectStoreError([&] { RunStore::open(noisy); }, "is not an SQLite database");
  EXPECT_EQ(readBytes(noisy), noise);

  // The right header (4096-byte pages) in front of noise.
  std::string fake = noise;
  const char magic[] = "SQLite format 3";
  std::copy(magic, magic + 16, fake.begin());
  std::fill(fake.begin() + 16, fake.begin() + 100, '\0');
  fake[16] = 0x10;
  fake[18] = fake[19] = 1;
  fake[21] = 64;
  fake[22] = 32;
  fake[23] = 32;
  const fs::path faked = dir / "faked.sqlite";
  writeBytes(faked, fake);
  expectStoreError([&] { RunStore::open(faked); }, faked.string() + ": is corrupt");
  EXPECT_EQ(readBytes(faked), fake);
  EXPECT_FALSE(fs::exists(dir / "faked.sqlite-wal"));

  expectStoreError([&] { RunStore::open(dir); }, dir.string() + ": is a folder");
}

TEST(RunStore, TruncatedOrDamagedStoreIsRefusedUnchanged) {
  const fs::path dir = test::tempDir("store_truncated");
  const fs::path db = dir / "runs.sqlite";
  {
    RunStore store = RunStore::open(db);
    const int64_t run = store.createRun("big", std::string(20000, 'c'), "2", "tiny");
    std::vector<MetricPoint> points;
    for (int64_t step = 0; step < 2000; ++step) points.push_back({step, "loss", 1.0 / (1 + step)});
    store.addMetrics(run, points);
  }
  const std::string whole = readBytes(db);
  ASSERT_GT(whole.size(), 8u * 4096u);
  ASSERT_EQ(whole.size() % 4096, 0u);

  const fs::path half = dir / "half.sqlite";
  writeBytes(half, whole.substr(0, whole.size() / 2 + 100));
  expectStoreError([&] { RunStore::open(half); }, half.string() + ": is truncated or damaged");
  EXPECT_EQ(readBytes(half), whole.substr(0, whole.size() / 2 + 100));

  const fs::path pages = dir / "pages.sqlite";
  writeBytes(pages, whole.substr(0, 2 * 4096));
  expectStoreError([&] { RunStore::open(pages); },
                   pages.string() + ": is truncated: its header describes " +
                       std::to_string(whole.size() / 4096) + " pages");
  EXPECT_EQ(readBytes(pages), whole.substr(0, 2 * 4096));

  // Whole size, but a page in the middle overwritten.
  std::string damaged = whole;
  std::fill(damaged.begin() + 4 * 4096, damaged.begin() + 5 * 4096, '\x5a');
  const fs::path bad = dir / "damaged.sqlite";
  writeBytes(bad, damaged);
  expectStoreError([&] { RunStore::open(bad); }, bad.string() + ": is corrupt");
  EXPECT_EQ(readBytes(bad), damaged);
  EXPECT_EQ(RunStore::open(db).listRuns().size(), 1u);  // the original is fine
}

TEST(RunStore, MissingOrReadOnlyFolderIsAClearError) {
  const fs::path dir = test::tempDir("store_folders");
  expectStoreError([&] { RunStore::open(dir / "no-such-folder" / "runs.sqlite"); },
                   "the folder " + (dir / "no-such-folder").string() + " does not exist");
  EXPECT_FALSE(fs::exists(dir / "no-such-folder"));
  expectStoreError([&] { RunStore::open(dir / "absent.sqlite", false); },
                   (dir / "absent.sqlite").string() + ": does not exist");
  EXPECT_FALSE(fs::exists(dir / "absent.sqlite"));

  const fs::path ro = dir / "read-only";
  fs::create_directories(ro);
  RunStore::open(ro / "existing.sqlite").createRun("r", "{}", "2", "tiny");
  chmod((ro / "existing.sqlite").c_str(), 0666);
  chmod(ro.c_str(), 0555);
  // root may write anywhere: the check runs as 'nobody' then.
  const std::string child = test::inChild([&]() -> std::string {
    if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) return "cannot drop root";
    std::string out;
    const auto expect = [&](const fs::path& p, const std::string& needle) {
      try {
        RunStore::open(p);
        out += p.string() + " opened; ";
      } catch (const StoreError& e) {
        if (std::string(e.what()).find(needle) == std::string::npos)
          out += std::string("message: ") + e.what() + "; ";
      }
    };
    expect(ro / "new.sqlite",
           "cannot create the database: the folder " + ro.string() + " is not writable");
    expect(ro / "existing.sqlite", "the folder " + ro.string() + " is not writable");
    return out;
  });
  chmod(ro.c_str(), 0755);
  EXPECT_EQ(child, "");
  EXPECT_FALSE(fs::exists(ro / "new.sqlite"));
}

TEST(RunStore, DiskFullKeepsEarlierData) {
  const fs::path db = test::tempDir("store_full") / "runs.sqlite";
  int64_t run = 0;
  {
    RunStore store = RunStore::open(db);
    run = store.createRun("full", "{}", "2", "tiny");
    std::vector<MetricPoint> points;
    for (int64_t step = 1; step <= 10; ++step) points.push_back({step, "loss", 1.0 / step});
    store.addMetrics(run, points);
  }
  // The child's files may not grow past a limit, as on a full disk.
  const std::string child = test::inChild([&]() -> std::string {
    signal(SIGXFSZ, SIG_IGN);
    RunStore store = RunStore::open(db);
    const rlim_t limit = static_cast<rlim_t>(fs::file_size(db)) + 96 * 1024;
    const rlimit rl{limit, limit};
    if (setrlimit(RLIMIT_FSIZE, &rl) != 0) return "setrlimit failed";
    std::vector<MetricPoint> many;
    for (int64_t step = 11; step <= 60000; ++step) many.push_back({step, "loss", 0.125});
    try {
      store.addMetrics(run, many);
      return "a write past the size limit succeeded";
    } catch (const StoreError& e) {
      const std::string msg = e.what();
      if (msg.find(db.string() + ": adding metrics to run " + std::to_string(run) + ": ") != 0 ||
          (msg.find("disk I/O error") == std::string::npos &&
           msg.find("disk is full") == std::string::npos))
        return "message: " + msg;
    }
    store.addMetrics(run, {{11, "after", 3.0}});  // the store still works
    return "";
  });
  EXPECT_EQ(child, "");
  RunStore store = RunStore::open(db);
  const std::vector<MetricPoint> loss = store.metrics(run, "loss");
  ASSERT_EQ(loss.size(), 10u);
  EXPECT_EQ(loss[9].step, 10);
  EXPECT_EQ(loss[9].value, 0.1);
  ASSERT_EQ(store.metrics(run, "after").size(), 1u);
  EXPECT_EQ(store.metrics(run, "after")[0].value, 3.0);
}

TEST(RunStore, DefaultPathFollowsTheEnvironment) {
  const auto saved = [](const char* name) -> std::optional<std::string> {
    const char* v = std::getenv(name);
    return v ? std::optional<std::string>(v) : std::nullopt;
  };
  const auto restore = [](const char* name, const std::optional<std::string>& v) {
    if (v)
      setenv(name, v->c_str(), 1);
    else
      unsetenv(name);
  };
  const auto db = saved("MOLA_DB"), xdg = saved("XDG_DATA_HOME"), home = saved("HOME");
  setenv("MOLA_DB", "/data/my-runs.sqlite", 1);
  setenv("XDG_DATA_HOME", "/xdg", 1);
  setenv("HOME", "/home/ada", 1);
  EXPECT_EQ(RunStore::defaultPath(), fs::path("/data/my-runs.sqlite"));
  unsetenv("MOLA_DB");
  EXPECT_EQ(RunStore::defaultPath(), fs::path("/xdg/mola-workbench/runs.sqlite"));
  unsetenv("XDG_DATA_HOME");
  EXPECT_EQ(RunStore::defaultPath(), fs::path("/home/ada/.local/share/mola-workbench/runs.sqlite"));
  restore("MOLA_DB", db);
  restore("XDG_DATA_HOME", xdg);
  restore("HOME", home);
}

TEST(RunStore, MovedStoreKeepsTheConnection) {
  const fs::path db = test::tempDir("store_move") / "runs.sqlite";
  RunStore a = RunStore::open(db);
  a.createRun("x", "{}", "2", "tiny");
  RunStore b = std::move(a);
  EXPECT_EQ(b.listRuns().size(), 1u);
  RunStore c = RunStore::open(test::tempDir("store_move2") / "runs.sqlite");
  c = std::move(b);
  EXPECT_EQ(c.path(), db);
  EXPECT_EQ(c.listRuns().size(), 1u);
}

}  // namespace
}  // namespace mola
