// SPDX-License-Identifier: GPL-3.0-or-later
// RunStore on the SQLite C API: file checks before any write, WAL, migrations, one transaction per
// call, run folders and the locks of live runs.
#include "store/run_store.h"

#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <map>
#include <memory>
#include <system_error>
#include <thread>
#include <utility>

#include "store/run_lease.h"
#include "store/sqlite_support.h"
#include "store/store_file_checks.h"
#include "store/store_schema.h"

namespace mola {

namespace fs = std::filesystem;
using namespace store_detail;

void store_detail::requireRun(sqlite3* db, const fs::path& path, int64_t run) {
  Statement s(db, "SELECT 1 FROM runs WHERE id = ?");
  s.bindInt(1, run);
  if (!s.step()) throw StoreError(path.string() + ": no run with id " + std::to_string(run));
}

namespace {

// How long claimRun waits for a run lock that another process only probes.
constexpr std::chrono::milliseconds kClaimWait{2000};

// Columns 14-17 (note, tags, study, variant) exist from schema version 3 on; older files read as
// without them.
std::string runColumns(int64_t schema) {
  const std::string common =
      "SELECT id, name, status, created_at, finished_at, config_json, allocation, model, host, "
      "message, COALESCE((SELECT MAX(step) FROM metrics WHERE metrics.run = runs.id), 0), pid, "
      "hostname, process_tag, ";
  if (schema < 3) return common + "'', '', 0, '' FROM runs";
  return common +
         "note, (SELECT group_concat(tag, char(31)) FROM (SELECT tag FROM tags WHERE "
         "tags.run = runs.id ORDER BY tag)), COALESCE((SELECT study FROM queue WHERE queue.run = "
         "runs.id), 0), COALESCE((SELECT variant FROM queue WHERE queue.run = runs.id), '') "
         "FROM runs";
}

// What a run row stored as running says once its process is known to be gone.
std::string goneMessage(int64_t pid, const std::string& hostname) {
  return "the process running it (pid " + std::to_string(pid) + " on " + hostname +
         ") ended without finishing it; it can be resumed";
}

// A row of kRunColumns; a running run without a live trainer (`alive` says) reads as Interrupted.
template <typename Alive>
RunRecord readRun(const Statement& s, Alive alive) {
  RunRecord r;
  r.id = s.integer(0);
  r.name = s.text(1);
  try {
    r.status = parseRunStatus(s.text(2));
  } catch (const std::invalid_argument& e) {
    throw SqliteFailure("run " + std::to_string(r.id) + ": " + e.what());
  }
  r.created_at = s.text(3);
  r.finished_at = s.text(4);
  r.config_json = s.text(5);
  r.allocation = s.text(6);
  r.model = s.text(7);
  r.host = s.text(8);
  r.message = s.text(9);
  r.last_step = s.integer(10);
  r.note = s.text(14);
  const std::string tags = s.text(15);  // joined with the unit separator
  for (size_t start = 0; start < tags.size();) {
    const size_t end = std::min(tags.find('\x1f', start), tags.size());
    r.tags.push_back(tags.substr(start, end - start));
    start = end + 1;
  }
  r.study = s.integer(16);
  r.variant = s.text(17);
  if (r.status == RunStatus::Running && !alive(r.id, s.integer(11), s.text(12), s.text(13))) {
    r.status = RunStatus::Interrupted;
    r.message = goneMessage(s.integer(11), s.text(12));
  }
  return r;
}

std::string readStoreId(sqlite3* db) {
  if (queryInt(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'store_info'") == 0) return "";
  Statement s(db, "SELECT value FROM store_info WHERE key = 'store_id'");
  return s.step() ? s.text(0) : "";
}

}  // namespace

// The run locks a store holds, by run id.
struct RunStore::Leases {
  std::map<int64_t, RunLock> held;
};

std::string runStatusName(RunStatus s) {
  switch (s) {
    case RunStatus::Running:
      return "running";
    case RunStatus::Completed:
      return "completed";
    case RunStatus::Stopped:
      return "stopped";
    case RunStatus::Failed:
      return "failed";
    case RunStatus::Interrupted:
      return "interrupted";
  }
  return "unknown";
}

RunStatus parseRunStatus(const std::string& name) {
  for (RunStatus s : {RunStatus::Running, RunStatus::Completed, RunStatus::Stopped,
                      RunStatus::Failed, RunStatus::Interrupted})
    if (runStatusName(s) == name) return s;
  throw std::invalid_argument("unknown run status '" + name +
                              "' (known: running, completed, stopped, failed, interrupted)");
}

const std::vector<std::string>& RunStore::migrations() {
  return schemaMigrations();
}

RunStore::RunStore() : m_leases(std::make_unique<Leases>()) {}

RunStore RunStore::open(const fs::path& path, bool create) {
  return openWithMigrations(path, create, migrations());
}

namespace {

// What open() and openReadOnly() check before SQLite opens the file for real: returns whether
// the file exists (with a size > 0 when it does not throw).
bool checkBeforeOpening(const fs::path& path, bool create, size_t supported) {
  const std::string where = path.string();
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec && st.type() != fs::file_type::not_found)
    throw StoreError(where + ": cannot be read (" + ec.message() + ")");
  const bool exists = fs::exists(st);
  ec.clear();
  if (exists && fs::is_directory(st))
    throw StoreError(where + ": is a folder, not a database file");
  if (exists && !fs::is_regular_file(st)) throw StoreError(where + ": is not a regular file");
  const uintmax_t size = exists ? fs::file_size(path, ec) : 0;
  if (ec) throw StoreError(where + ": cannot be read (" + ec.message() + ")");
  if (size == 0) {
    if (!create)
      throw StoreError(where + (exists ? ": is empty, not a MoLA run store" : ": does not exist"));
  } else {
    inspectExisting(path, size, supported);
  }
  return exists;
}

// WAL, the connection's settings and the schema: everything a writing connection sets up.
void prepareForWriting(sqlite3* db, const fs::path& path, const std::vector<std::string>& steps) {
  std::string journal;
  {
    Statement mode(db, "PRAGMA journal_mode = WAL");
    if (mode.step()) journal = mode.text(0);
  }
  if (journal != "wal")
    throw SqliteFailure("cannot switch to WAL mode (the journal mode stays '" + journal +
                        "'; is the file on a network filesystem?)");
  exec(db, "PRAGMA synchronous = NORMAL");
  exec(db, "PRAGMA foreign_keys = ON");
  migrate(db, path, steps);
}

}  // namespace

RunStore RunStore::openWithMigrations(const fs::path& given, bool create,
                                      const std::vector<std::string>& steps) {
  const fs::path path = fs::absolute(given);
  const std::string where = path.string();
  const bool exists = checkBeforeOpening(path, create, steps.size());
  checkFolderWritable(path, exists);

  RunStore store;
  store.m_path = path;
  const int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
  const int rc = sqlite3_open_v2(path.c_str(), &store.m_db, flags, nullptr);
  if (rc != SQLITE_OK)
    throw StoreError(where + ": cannot open the database: " + sqliteMessage(store.m_db, rc));
  // Another process may be creating or upgrading the same file, or hold its write lock for a
  // while: SQLite answers some of these lock conflicts (switching a new file to WAL) at once,
  // without its busy handler, so the setup itself is retried until the patient timeout.
  sqlite3_busy_timeout(store.m_db, kPatientBusyTimeoutMs);
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(kPatientBusyTimeoutMs);
  for (;;) {
    try {
      prepareForWriting(store.m_db, path, steps);
      store.m_store_id = readStoreId(store.m_db);
      store.m_schema = queryInt(store.m_db, "PRAGMA user_version");
      break;
    } catch (const SqliteFailure& e) {
      const int primary = e.code() & 0xff;
      const bool busy = primary == SQLITE_BUSY || primary == SQLITE_LOCKED;
      if (!busy || std::chrono::steady_clock::now() >= deadline)
        throw StoreError(where + ": cannot open the database: " + e.what(),
                         busy ? StoreError::Kind::Busy : StoreError::Kind::Other);
    } catch (const StoreError& e) {
      if (!e.busy() || std::chrono::steady_clock::now() >= deadline) throw;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  sqlite3_busy_timeout(store.m_db, kBusyTimeoutMs);
  return store;
}

RunStore RunStore::openReadOnly(const fs::path& given) {
  const fs::path path = fs::absolute(given);
  const std::string where = path.string();
  // An empty file may be a store another process is creating at this moment: no runs yet.
  checkBeforeOpening(path, fs::exists(path), migrations().size());
  RunStore store;
  store.m_path = path;
  store.m_read_only = true;
  // A read-only connection to a WAL database needs the -shm file; where it cannot be made (a
  // read-only folder) and no -wal file exists, nobody can be writing: read the file as immutable.
  const bool has_wal = fs::exists(fs::path(path.string() + "-wal"));
  for (const char* query : {"mode=ro", "mode=ro&immutable=1"}) {
    if (store.m_db) sqlite3_close_v2(std::exchange(store.m_db, nullptr));
    const int rc = sqlite3_open_v2(fileUri(path, query).c_str(), &store.m_db,
                                   SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nullptr);
    if (rc != SQLITE_OK)
      throw StoreError(where + ": cannot be opened: " + sqliteMessage(store.m_db, rc));
    sqlite3_busy_timeout(store.m_db, kBusyTimeoutMs);
    try {
      store.m_schema = queryInt(store.m_db, "PRAGMA user_version");
      store.m_empty = store.m_schema == 0;
      if (!store.m_empty) store.m_store_id = readStoreId(store.m_db);
      return store;
    } catch (const SqliteFailure& e) {
      if (has_wal || std::string(query) != "mode=ro")
        throw StoreError(where + ": cannot be read: " + e.what());
    }
  }
  return store;  // not reached: the immutable attempt returns or throws
}

fs::path RunStore::defaultPath() {
  if (const char* db = std::getenv("MOLA_DB"); db && *db) return db;
  const fs::path tail = fs::path("mola-workbench") / "runs.sqlite";
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg && fs::path(xdg).is_absolute())
    return fs::path(xdg) / tail;
  const char* home = std::getenv("HOME");
  return fs::path(home && *home ? home : ".") / ".local" / "share" / tail;
}

RunStore::RunStore(RunStore&& other) noexcept
    : m_path(std::move(other.m_path)),
      m_db(std::exchange(other.m_db, nullptr)),
      m_read_only(other.m_read_only),
      m_empty(other.m_empty),
      m_schema(other.m_schema),
      m_store_id(std::move(other.m_store_id)),
      m_leases(std::exchange(other.m_leases, std::make_unique<Leases>())) {}

RunStore& RunStore::operator=(RunStore&& other) noexcept {
  std::swap(m_path, other.m_path);
  std::swap(m_db, other.m_db);
  std::swap(m_read_only, other.m_read_only);
  std::swap(m_empty, other.m_empty);
  std::swap(m_schema, other.m_schema);
  std::swap(m_store_id, other.m_store_id);
  std::swap(m_leases, other.m_leases);
  return *this;
}

RunStore::~RunStore() {
  if (m_db) sqlite3_close_v2(m_db);
  // m_leases goes after: its locks are dropped as the store closes.
}

fs::path RunStore::runDirectory(int64_t run) const {
  return fs::path(m_path.string() + "-runs") / std::to_string(run);
}

void RunStore::setBusyTimeout(int milliseconds) {
  sqlite3_busy_timeout(m_db, milliseconds);
}

namespace {

// A folder left at a new run's place by another database of the same name (deleted or replaced
// since): moved aside, never deleted, never taken for the new run's.
void moveAsideStaleFolder(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return;
  const fs::path aside =
      dir.string() + ".orphaned-" + std::to_string(static_cast<long long>(std::time(nullptr)));
  fs::rename(dir, aside);
}

}  // namespace

int64_t RunStore::createRun(const std::string& name, const std::string& config_json,
                            const std::string& allocation, const std::string& model) {
  return *createRunIn(
      [&] {
        return std::optional<NewRun>(NewRun{name, config_json, allocation, model});
      },
      [](int64_t) {});
}

std::optional<int64_t> RunStore::createRunIn(const std::function<std::optional<NewRun>()>& pick,
                                             const std::function<void(int64_t)>& after) {
  std::optional<int64_t> id;
  std::optional<RunLock> lock;
  transaction(m_db, m_path, true, "creating a run", [&] {
    const std::optional<NewRun> run = pick();
    if (!run) return;
    const std::string& name = run->name;
    Statement s(m_db,
                "INSERT INTO runs (name, status, created_at, config_json, allocation, model, "
                "host, pid, hostname, process_tag) VALUES (?, 'running', ?, ?, ?, ?, ?, ?, ?, ?)");
    s.bindText(1, name)
        .bindText(2, nowUtc())
        .bindText(3, run->config_json)
        .bindText(4, run->allocation)
        .bindText(5, run->model)
        .bindText(6, hostDescription())
        .bindInt(7, getpid())
        .bindText(8, hostName())
        .bindText(9, processTag(getpid()));
    s.run();
    id = sqlite3_last_insert_rowid(m_db);
    // The lock is taken before the row is visible to anyone (the commit): no other process can
    // see this run without its live trainer.
    const fs::path dir = runDirectory(*id);
    try {
      moveAsideStaleFolder(dir);
      lock = RunLock::acquire(dir, std::chrono::milliseconds(0), true);
    } catch (const std::exception& e) {
      throw StoreError(m_path.string() + ": creating run '" + name + "': cannot make its folder " +
                       dir.string() + ": " + e.what());
    }
    if (!lock)
      throw StoreError(m_path.string() + ": creating run '" + name + "': its folder " +
                       dir.string() + " is locked by another process");
    after(*id);
  });
  if (id) m_leases->held.insert_or_assign(*id, std::move(*lock));
  return id;
}

void RunStore::claimRun(int64_t run) {
  const std::string what = "run " + std::to_string(run);
  const fs::path dir = runDirectory(run);
  if (m_leases->held.count(run))
    throw StoreError(m_path.string() + ": " + what + " is being trained by this process");
  // Before the lock: an unknown id must not leave a folder behind.
  transaction(m_db, m_path, false, "reading " + what, [&] { requireRun(m_db, m_path, run); });
  // A run from before run locks has no lock file: only its pid can tell whether it still trains.
  const bool legacy = probeRunLock(dir) == LockState::Absent;
  std::optional<RunLock> lock;
  try {
    lock = RunLock::acquire(dir, kClaimWait, true);
  } catch (const std::exception& e) {
    throw StoreError(m_path.string() + ": " + what + ": cannot lock its folder: " + e.what());
  }
  const auto busy = [&](const std::string& owner) {
    return StoreError(m_path.string() + ": " + what + " is being trained by another process (" +
                      owner + ")");
  };
  if (!lock) {
    std::string owner;
    transaction(m_db, m_path, false, "reading " + what, [&] {
      Statement s(m_db, "SELECT pid, hostname FROM runs WHERE id = ?");
      s.bindInt(1, run);
      if (s.step()) owner = "pid " + std::to_string(s.integer(0)) + " on " + s.text(1) + "; ";
    });
    throw busy(owner + "it holds " + runLockPath(dir).string());
  }
  transaction(m_db, m_path, true, "claiming " + what, [&] {
    Statement s(m_db, "SELECT status, pid, hostname, process_tag FROM runs WHERE id = ?");
    s.bindInt(1, run);
    if (!s.step()) throw StoreError(m_path.string() + ": no run with id " + std::to_string(run));
    if (s.text(0) == "completed") throw StoreError(what + " is already completed");
    if (legacy && s.text(0) == "running" && processAlive(s.text(2), s.integer(1), s.text(3)))
      throw busy("pid " + std::to_string(s.integer(1)) + " on " + s.text(2));
    s.reset();
    Statement u(m_db,
                "UPDATE runs SET status = 'running', finished_at = '', message = '', host = ?, "
                "pid = ?, hostname = ?, process_tag = ? WHERE id = ?");
    u.bindText(1, hostDescription())
        .bindInt(2, getpid())
        .bindText(3, hostName())
        .bindText(4, processTag(getpid()))
        .bindInt(5, run);
    u.run();
  });
  m_leases->held.insert_or_assign(run, std::move(*lock));
}

void RunStore::setStatus(int64_t run, RunStatus status, const std::string& message) {
  if (status == RunStatus::Running) return claimRun(run);
  transaction(m_db, m_path, true, "setting the status of run " + std::to_string(run), [&] {
    requireRun(m_db, m_path, run);
    Statement s(m_db, "UPDATE runs SET status = ?, finished_at = ?, message = ? WHERE id = ?");
    s.bindText(1, runStatusName(status)).bindText(2, nowUtc()).bindText(3, message);
    s.bindInt(4, run).run();
  });
  m_leases->held.erase(run);  // after the commit: nobody sees the run running without its owner
}

void RunStore::addMetrics(int64_t run, const std::vector<MetricPoint>& points) {
  if (points.empty()) return;
  transaction(m_db, m_path, true, "adding metrics to run " + std::to_string(run), [&] {
    requireRun(m_db, m_path, run);
    // A point at a step and name already stored replaces it (a re-logged step).
    Statement s(m_db,
                "INSERT OR REPLACE INTO metrics (run, step, name, value) VALUES (?, ?, ?, ?)");
    s.bindInt(1, run);
    for (const MetricPoint& p : points) {
      s.bindInt(2, p.step).bindText(3, p.name).bindReal(4, p.value);
      s.run();
    }
  });
}

int64_t RunStore::addEvalScore(int64_t run, const EvalScore& score,
                               const std::vector<StoredPrediction>& predictions) {
  int64_t id = 0;
  transaction(m_db, m_path, true,
              "adding the " + score.benchmark + " score of step " + std::to_string(score.step) +
                  " to run " + std::to_string(run),
              [&] {
                requireRun(m_db, m_path, run);
                Statement s(m_db,
                            "INSERT INTO eval_scores (run, step, benchmark, split, protocol, "
                            "accuracy, n, ci_low, ci_high) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
                s.bindInt(1, run)
                    .bindInt(2, score.step)
                    .bindText(3, score.benchmark)
                    .bindText(4, score.split)
                    .bindText(5, score.protocol)
                    .bindReal(6, score.accuracy)
                    .bindInt(7, score.n)
                    .bindReal(8, score.ci_low)
                    .bindReal(9, score.ci_high);
                s.run();
                id = sqlite3_last_insert_rowid(m_db);
                Statement p(m_db,
                            "INSERT INTO predictions (eval, seq, example_id, predicted, correct) "
                            "VALUES (?, ?, ?, ?, ?)");
                p.bindInt(1, id);
                for (size_t i = 0; i < predictions.size(); ++i) {
                  p.bindInt(2, static_cast<int64_t>(i))
                      .bindText(3, predictions[i].example_id)
                      .bindInt(4, predictions[i].predicted)
                      .bindInt(5, predictions[i].correct ? 1 : 0);
                  p.run();
                }
              });
  return id;
}

void RunStore::addCheckpoint(int64_t run, int64_t step, const std::string& path) {
  // Inside the database's folder: stored relative to it.
  const fs::path folder = m_path.parent_path();
  const fs::path abs = fs::absolute(path).lexically_normal();
  const fs::path rel = abs.lexically_relative(folder);
  const std::string stored = !rel.empty() && *rel.begin() != ".." ? rel.string() : abs.string();
  transaction(
      m_db, m_path, true,
      "adding the checkpoint of step " + std::to_string(step) + " to run " + std::to_string(run),
      [&] {
        requireRun(m_db, m_path, run);
        Statement s(m_db,
                    "INSERT OR REPLACE INTO checkpoints (run, step, path, created_at) "
                    "VALUES (?, ?, ?, ?)");
        s.bindInt(1, run).bindInt(2, step).bindText(3, stored).bindText(4, nowUtc()).run();
      });
}

void RunStore::removeCheckpoint(int64_t run, int64_t step) {
  transaction(
      m_db, m_path, true,
      "removing the checkpoint of step " + std::to_string(step) + " of run " + std::to_string(run),
      [&] {
        Statement s(m_db, "DELETE FROM checkpoints WHERE run = ? AND step = ?");
        s.bindInt(1, run).bindInt(2, step).run();
      });
}

void RunStore::truncateAfter(int64_t run, int64_t step) {
  transaction(
      m_db, m_path, true,
      "removing the results of run " + std::to_string(run) + " after step " + std::to_string(step),
      [&] {
        requireRun(m_db, m_path, run);
        // Predictions go with their scores (ON DELETE CASCADE).
        for (const char* sql : {"DELETE FROM metrics WHERE run = ? AND step > ?",
                                "DELETE FROM router_stats WHERE run = ? AND step > ?",
                                "DELETE FROM router_layer_stats WHERE run = ? AND step > ?",
                                "DELETE FROM eval_scores WHERE run = ? AND step > ?",
                                "DELETE FROM checkpoints WHERE run = ? AND step > ?"}) {
          Statement s(m_db, sql);
          s.bindInt(1, run).bindInt(2, step).run();
        }
      });
}

void RunStore::deleteRun(int64_t run) {
  const std::string what = "run " + std::to_string(run);
  transaction(m_db, m_path, true, "deleting " + what, [&] {
    Statement s(m_db, "SELECT status, pid, hostname, process_tag FROM runs WHERE id = ?");
    s.bindInt(1, run);
    if (!s.step()) throw StoreError(m_path.string() + ": no run with id " + std::to_string(run));
    if (m_leases->held.count(run))
      throw StoreError(m_path.string() + ": " + what + " is training in this process: stop it " +
                       "before deleting it");
    if (s.text(0) == "running" && ownerAlive(run, s.integer(1), s.text(2), s.text(3)))
      throw StoreError(m_path.string() + ": " + what + " is being trained by a live process: " +
                       "stop it (Ctrl-C, or Stop in the workbench) before deleting it");
    s.reset();
    // Everything else the run owns goes with it (ON DELETE CASCADE).
    Statement del(m_db, "DELETE FROM runs WHERE id = ?");
    del.bindInt(1, run).run();
  });
  std::error_code ec;
  fs::remove_all(runDirectory(run), ec);
  if (ec)
    throw StoreError(m_path.string() + ": " + what + " was deleted, but its folder " +
                     runDirectory(run).string() + " could not be removed: " + ec.message());
}

bool RunStore::ownerAlive(int64_t run, int64_t pid, const std::string& hostname,
                          const std::string& process_tag) const {
  if (m_leases->held.count(run)) return true;
  switch (probeRunLock(runDirectory(run))) {
    case LockState::Held:
      return true;
    case LockState::Free:
      return false;
    case LockState::Absent:
      break;
  }
  // A row from before run locks (schema version 1): only the pid can tell.
  return processAlive(hostname, pid, process_tag);
}

bool RunStore::isLive(int64_t run) const {
  bool live = false;
  transaction(m_db, m_path, false, "reading run " + std::to_string(run), [&] {
    Statement s(m_db, "SELECT status, pid, hostname, process_tag FROM runs WHERE id = ?");
    s.bindInt(1, run);
    if (!s.step()) throw StoreError(m_path.string() + ": no run with id " + std::to_string(run));
    live = s.text(0) == "running" && ownerAlive(run, s.integer(1), s.text(2), s.text(3));
  });
  return live;
}

int RunStore::markInterruptedRuns() {
  int marked = 0;
  transaction(m_db, m_path, true, "marking interrupted runs", [&] {
    Statement running(m_db,
                      "SELECT id, pid, hostname, process_tag FROM runs WHERE status = 'running'");
    std::vector<std::pair<int64_t, std::string>> dead;  // run id, message
    // Held until the commit: a process claiming one of these runs waits for the marking.
    std::vector<RunLock> held;
    while (running.step()) {
      const int64_t id = running.integer(0), pid = running.integer(1);
      const std::string hostname = running.text(2);
      if (m_leases->held.count(id)) continue;
      std::optional<RunLock> lock =
          RunLock::acquire(runDirectory(id), std::chrono::milliseconds(0), false);
      if (lock) {
        held.push_back(std::move(*lock));
      } else if (probeRunLock(runDirectory(id)) != LockState::Absent ||
                 processAlive(hostname, pid, running.text(3))) {
        continue;
      }
      dead.emplace_back(id, goneMessage(pid, hostname));
    }
    running.reset();
    Statement mark(m_db,
                   "UPDATE runs SET status = 'interrupted', finished_at = ?, message = ? "
                   "WHERE id = ? AND status = 'running'");
    const std::string now = nowUtc();
    for (const auto& [id, message] : dead) {
      mark.bindText(1, now).bindText(2, message).bindInt(3, id).run();
      marked += sqlite3_changes(m_db);
    }
  });
  return marked;
}

std::vector<RunRecord> RunStore::listRuns() const {
  std::vector<RunRecord> runs;
  if (m_empty) return runs;
  transaction(m_db, m_path, false, "listing runs", [&] {
    Statement s(m_db, (runColumns(m_schema) + " ORDER BY id").c_str());
    while (s.step())
      runs.push_back(
          readRun(s, [this](int64_t id, int64_t pid, const std::string& host,
                            const std::string& tag) { return ownerAlive(id, pid, host, tag); }));
  });
  return runs;
}

RunRecord RunStore::run(int64_t id) const {
  RunRecord record;
  if (m_empty) throw StoreError(m_path.string() + ": no run with id " + std::to_string(id));
  transaction(m_db, m_path, false, "reading run " + std::to_string(id), [&] {
    Statement s(m_db, (runColumns(m_schema) + " WHERE id = ?").c_str());
    s.bindInt(1, id);
    if (!s.step()) throw StoreError(m_path.string() + ": no run with id " + std::to_string(id));
    record = readRun(s, [this](int64_t run, int64_t pid, const std::string& host,
                               const std::string& tag) { return ownerAlive(run, pid, host, tag); });
  });
  return record;
}

std::vector<MetricPoint> RunStore::metrics(int64_t run, const std::string& name,
                                           int64_t after_step) const {
  std::vector<MetricPoint> points;
  transaction(m_db, m_path, false, "reading the metrics of run " + std::to_string(run), [&] {
    Statement s(m_db, name.empty() ? "SELECT step, name, value FROM metrics WHERE run = ? AND "
                                     "step > ? ORDER BY step, name"
                                   : "SELECT step, name, value FROM metrics WHERE run = ? AND "
                                     "step > ? AND name = ? ORDER BY step");
    s.bindInt(1, run).bindInt(2, after_step);
    if (!name.empty()) s.bindText(3, name);
    while (s.step()) points.push_back({s.integer(0), s.text(1), s.real(2)});
  });
  return points;
}

std::vector<std::string> RunStore::metricNames(int64_t run) const {
  std::vector<std::string> names;
  transaction(m_db, m_path, false, "reading the metric names of run " + std::to_string(run), [&] {
    Statement s(m_db, "SELECT DISTINCT name FROM metrics WHERE run = ? ORDER BY name");
    s.bindInt(1, run);
    while (s.step()) names.push_back(s.text(0));
  });
  return names;
}

std::vector<EvalScore> RunStore::evalScores(int64_t run) const {
  std::vector<EvalScore> scores;
  transaction(m_db, m_path, false, "reading the scores of run " + std::to_string(run), [&] {
    Statement s(m_db,
                "SELECT id, step, benchmark, split, protocol, accuracy, n, ci_low, ci_high FROM "
                "eval_scores WHERE run = ? ORDER BY step, id");
    s.bindInt(1, run);
    while (s.step()) {
      EvalScore e;
      e.id = s.integer(0);
      e.step = s.integer(1);
      e.benchmark = s.text(2);
      e.split = s.text(3);
      e.protocol = s.text(4);
      e.accuracy = s.real(5);
      e.n = s.integer(6);
      e.ci_low = s.real(7);
      e.ci_high = s.real(8);
      scores.push_back(std::move(e));
    }
  });
  return scores;
}

std::vector<StoredPrediction> RunStore::predictions(int64_t eval_id) const {
  std::vector<StoredPrediction> out;
  transaction(m_db, m_path, false, "reading the predictions of score " + std::to_string(eval_id),
              [&] {
                Statement s(m_db,
                            "SELECT example_id, predicted, correct FROM predictions WHERE eval = ? "
                            "ORDER BY seq");
                s.bindInt(1, eval_id);
                while (s.step())
                  out.push_back({s.text(0), static_cast<int>(s.integer(1)), s.integer(2) != 0});
              });
  return out;
}

std::vector<CheckpointRecord> RunStore::checkpoints(int64_t run) const {
  std::vector<CheckpointRecord> out;
  const fs::path folder = m_path.parent_path();
  transaction(m_db, m_path, false, "reading the checkpoints of run " + std::to_string(run), [&] {
    Statement s(m_db, "SELECT step, path FROM checkpoints WHERE run = ? ORDER BY step");
    s.bindInt(1, run);
    while (s.step()) {
      const fs::path p = s.text(1);
      out.push_back({s.integer(0), (p.is_absolute() ? p : folder / p).string()});
    }
  });
  return out;
}

}  // namespace mola
