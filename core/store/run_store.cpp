// SPDX-License-Identifier: GPL-3.0-or-later
// RunStore on the SQLite C API: file checks before any write, WAL, migrations, one transaction per
// call.
#include "store/run_store.h"

#include <signal.h>
#include <sqlite3.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <sstream>
#include <system_error>
#include <utility>

namespace mola {

namespace fs = std::filesystem;

namespace {

// PRAGMA application_id of a run store: 'MOLA'. Files without it are another program's.
constexpr int32_t kApplicationId = 0x4D4F4C41;
// How long a connection waits for another connection's write lock before giving up.
constexpr int kBusyTimeoutMs = 5000;
// PRAGMA quick_check reads the whole file; above this size opening would take seconds.
constexpr uintmax_t kQuickCheckMaxBytes = uintmax_t{256} << 20;

// Schema version 1. NULL in a REAL column stands for NaN, which SQLite cannot store.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  status TEXT NOT NULL
    CHECK (status IN ('running', 'completed', 'stopped', 'failed', 'interrupted')),
  created_at TEXT NOT NULL,
  finished_at TEXT NOT NULL DEFAULT '',
  config_json TEXT NOT NULL,
  allocation TEXT NOT NULL,
  model TEXT NOT NULL,
  host TEXT NOT NULL,
  message TEXT NOT NULL DEFAULT '',
  pid INTEGER NOT NULL,
  hostname TEXT NOT NULL,
  process_tag TEXT NOT NULL DEFAULT ''
);
CREATE TABLE metrics (
  run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  step INTEGER NOT NULL,
  name TEXT NOT NULL,
  value REAL,
  PRIMARY KEY (run, name, step)
) WITHOUT ROWID;
CREATE INDEX metrics_by_step ON metrics(run, step);
CREATE TABLE router_stats (
  run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  step INTEGER NOT NULL,
  layer INTEGER NOT NULL,
  module TEXT NOT NULL DEFAULT '',
  expert INTEGER NOT NULL,
  fraction REAL,
  mean_prob REAL,
  PRIMARY KEY (run, step, layer, module, expert)
) WITHOUT ROWID;
CREATE TABLE router_layer_stats (
  run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  step INTEGER NOT NULL,
  layer INTEGER NOT NULL,
  module TEXT NOT NULL DEFAULT '',
  tokens INTEGER NOT NULL,
  entropy REAL,
  normalized_entropy REAL,
  load_cv REAL,
  PRIMARY KEY (run, step, layer, module)
) WITHOUT ROWID;
CREATE TABLE eval_scores (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  step INTEGER NOT NULL,
  benchmark TEXT NOT NULL,
  split TEXT NOT NULL,
  protocol TEXT NOT NULL,
  accuracy REAL,
  n INTEGER NOT NULL,
  ci_low REAL,
  ci_high REAL
);
CREATE INDEX eval_scores_by_run ON eval_scores(run, step);
CREATE TABLE predictions (
  eval INTEGER NOT NULL REFERENCES eval_scores(id) ON DELETE CASCADE,
  seq INTEGER NOT NULL,
  example_id TEXT NOT NULL,
  predicted INTEGER NOT NULL,
  correct INTEGER NOT NULL CHECK (correct IN (0, 1)),
  PRIMARY KEY (eval, seq)
) WITHOUT ROWID;
CREATE TABLE checkpoints (
  run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  step INTEGER NOT NULL,
  path TEXT NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (run, step)
) WITHOUT ROWID;
)sql";

// An SQLite failure inside an operation; the caller adds the file and the operation.
class SqliteFailure : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string sqliteMessage(sqlite3* db, int rc) {
  std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  const int primary = rc & 0xff;
  if (db && (primary == SQLITE_IOERR || primary == SQLITE_CANTOPEN || primary == SQLITE_FULL)) {
    if (int sys = sqlite3_system_errno(db); sys != 0)
      msg += " (" + std::generic_category().message(sys) + ")";
  }
  return msg;
}

void exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqliteMessage(db, rc);
    sqlite3_free(err);
    throw SqliteFailure(msg);
  }
}

// One prepared statement, reused (bind, step, reset) for every row of a call.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : m_db(db) {
    const int rc = sqlite3_prepare_v2(db, sql, -1, &m_stmt, nullptr);
    if (rc != SQLITE_OK) throw SqliteFailure(sqliteMessage(db, rc));
  }
  ~Statement() { sqlite3_finalize(m_stmt); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bindInt(int i, int64_t v) { return check(sqlite3_bind_int64(m_stmt, i, v)); }
  Statement& bindReal(int i, double v) {
    return check(std::isnan(v) ? sqlite3_bind_null(m_stmt, i) : sqlite3_bind_double(m_stmt, i, v));
  }
  Statement& bindText(int i, const std::string& v) {
    return check(sqlite3_bind_text64(m_stmt, i, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
  }

  // True while there is a row to read.
  bool step() {
    const int rc = sqlite3_step(m_stmt);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw SqliteFailure(sqliteMessage(m_db, rc));
  }
  // Runs a statement that returns no rows and makes it ready for the next bindings.
  void run() {
    step();
    sqlite3_reset(m_stmt);
  }
  void reset() { sqlite3_reset(m_stmt); }

  bool isNull(int col) const { return sqlite3_column_type(m_stmt, col) == SQLITE_NULL; }
  int64_t integer(int col) const { return sqlite3_column_int64(m_stmt, col); }
  double real(int col) const {
    return isNull(col) ? std::numeric_limits<double>::quiet_NaN()
                       : sqlite3_column_double(m_stmt, col);
  }
  std::string text(int col) const {
    const auto* p = sqlite3_column_text(m_stmt, col);
    return p ? std::string(reinterpret_cast<const char*>(p),
                           static_cast<size_t>(sqlite3_column_bytes(m_stmt, col)))
             : std::string();
  }

 private:
  Statement& check(int rc) {
    if (rc != SQLITE_OK) throw SqliteFailure(sqliteMessage(m_db, rc));
    return *this;
  }
  sqlite3* m_db;
  sqlite3_stmt* m_stmt = nullptr;
};

int64_t queryInt(sqlite3* db, const char* sql) {
  Statement s(db, sql);
  return s.step() ? s.integer(0) : 0;
}

void rollback(sqlite3* db) {
  if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
}

// Runs `body` in one transaction (BEGIN IMMEDIATE for writes, so that the write lock is taken,
// with the busy timeout, before anything is read), rolled back when anything throws. SQLite
// failures become StoreErrors naming the file and `what`.
template <typename F>
void transaction(sqlite3* db, const fs::path& path, bool write, const std::string& what, F&& body) {
  try {
    exec(db, write ? "BEGIN IMMEDIATE" : "BEGIN");
    body();
    exec(db, "COMMIT");
  } catch (const SqliteFailure& e) {
    rollback(db);
    throw StoreError(path.string() + ": " + what + ": " + e.what());
  } catch (...) {
    rollback(db);
    throw;
  }
}

std::string nowUtc() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string hostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown-host";
  return buf;
}

// The value of the first "key : value" line of a /proc file that starts with `key`; empty when
// there is none.
std::string procField(const char* file, const std::string& key) {
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key, 0) != 0) continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    const size_t start = line.find_first_not_of(" \t", colon + 1);
    return start == std::string::npos ? "" : line.substr(start);
  }
  return "";
}

// NVIDIA GPUs as the driver lists them, e.g. "2 x NVIDIA H100 80GB HBM3"; empty without the
// driver. Read from /proc, so the store needs no CUDA library.
std::string gpuModels() {
  std::map<std::string, int> count;
  std::error_code ec;
  for (const auto& gpu : std::filesystem::directory_iterator("/proc/driver/nvidia/gpus", ec)) {
    const std::string model = procField((gpu.path() / "information").c_str(), "Model");
    if (!model.empty()) ++count[model];
  }
  std::string s;
  for (const auto& [model, n] : count)
    s += (s.empty() ? "" : ", ") + (n > 1 ? std::to_string(n) + " x " : std::string()) + model;
  return s;
}

// "hostname, Linux 6.1.0-18-amd64 x86_64, 16 CPUs (AMD EPYC 7B13), GPU: NVIDIA H100 80GB HBM3".
std::string hostDescription() {
  std::string s = hostName();
  utsname u{};
  if (uname(&u) == 0) s += std::string(", ") + u.sysname + " " + u.release + " " + u.machine;
  const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  if (cpus > 0) s += ", " + std::to_string(cpus) + (cpus == 1 ? " CPU" : " CPUs");
  if (const std::string cpu = procField("/proc/cpuinfo", "model name"); !cpu.empty())
    s += " (" + cpu + ")";
  if (const std::string gpus = gpuModels(); !gpus.empty()) s += ", GPU: " + gpus;
  return s;
}

// Boot id and start time of a process: tells a live process from a later one with the same pid
// (after a reboot, or pid reuse). Empty where /proc cannot tell.
std::string processTag(pid_t pid) {
  std::ifstream boot("/proc/sys/kernel/random/boot_id");
  std::string boot_id;
  if (!std::getline(boot, boot_id) || boot_id.empty()) return "";
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return "";
  // Fields after "pid (comm)", which may itself hold spaces: field 22 is the start time.
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return "";
  std::istringstream rest(line.substr(close + 1));
  std::string field;
  for (int i = 3; i <= 22; ++i)
    if (!(rest >> field)) return "";
  return boot_id + "/" + field;
}

bool processAlive(const std::string& hostname, int64_t pid, const std::string& tag) {
  if (hostname != hostName() || pid <= 0 || pid > std::numeric_limits<pid_t>::max()) return false;
  if (kill(static_cast<pid_t>(pid), 0) == -1 && errno == ESRCH) return false;
  if (!tag.empty()) {
    const std::string now = processTag(static_cast<pid_t>(pid));
    if (!now.empty() && now != tag) return false;
  }
  return true;
}

uint32_t bigEndian(const unsigned char* p, int bytes) {
  uint32_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | p[i];
  return v;
}

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08X", v);
  return buf;
}

// A file: URI for `path` (percent-encoded, so that '?' or '#' in a name stay part of it).
std::string fileUri(const fs::path& path, const char* query) {
  std::string uri = "file:";
  for (unsigned char c : fs::absolute(path).string()) {
    if (std::isalnum(c) || c == '/' || c == '-' || c == '.' || c == '_' || c == '~') {
      uri += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      uri += buf;
    }
  }
  return uri + "?" + query;
}

fs::path parentFolder(const fs::path& path) {
  fs::path parent = path.parent_path();
  return parent.empty() ? fs::path(".") : parent;
}

// Answers what can be said without SQLite, and throws when the file cannot be ours.
void checkHeader(const fs::path& path, uintmax_t size, bool has_wal) {
  const std::string where = path.string();
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw StoreError(where + ": cannot be read (" + std::generic_category().message(errno) + ")");
  unsigned char h[100] = {};
  in.read(reinterpret_cast<char*>(h), sizeof h);
  static const char kMagic[16] = {'S', 'Q', 'L', 'i', 't', 'e', ' ', 'f',
                                  'o', 'r', 'm', 'a', 't', ' ', '3', '\0'};
  if (size < sizeof h || std::memcmp(h, kMagic, sizeof kMagic) != 0)
    throw StoreError(where +
                     ": is not an SQLite database (it does not start with the SQLite header); "
                     "it was left unchanged");
  // Without a write-ahead log the main file holds everything, so its size must match its header.
  if (has_wal) return;
  const uint32_t raw_page = bigEndian(h + 16, 2);
  const uint32_t page_size = raw_page == 1 ? 65536 : raw_page;
  if (page_size < 512) return;  // SQLite itself reports an invalid header
  const uint32_t pages = bigEndian(h + 28, 4);
  const bool pages_valid = pages > 0 && bigEndian(h + 24, 4) == bigEndian(h + 92, 4);
  if (size % page_size != 0)
    throw StoreError(where + ": is truncated or damaged: " + std::to_string(size) +
                     " bytes is not a whole number of " + std::to_string(page_size) +
                     "-byte pages; it was left unchanged");
  if (pages_valid && size < uintmax_t{pages} * page_size)
    throw StoreError(where + ": is truncated: its header describes " + std::to_string(pages) +
                     " pages (" + std::to_string(uintmax_t{pages} * page_size) +
                     " bytes) but the file has " + std::to_string(size) +
                     " bytes; it was left unchanged");
}

// Opens an existing file read-only and checks that it is a healthy run store (or an empty
// database) that this program's `supported` schema version can read. Writes nothing: without a
// write-ahead log the file is opened immutable, so not even -wal/-shm files appear beside it.
void inspectExisting(const fs::path& path, uintmax_t size, size_t supported) {
  const std::string where = path.string();
  const bool has_wal = fs::exists(fs::path(path.string() + "-wal"));
  checkHeader(path, size, has_wal);

  sqlite3* db = nullptr;
  const std::string uri = fileUri(path, has_wal ? "mode=ro" : "mode=ro&immutable=1");
  const int rc = sqlite3_open_v2(uri.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nullptr);
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> guard(db, sqlite3_close_v2);
  if (rc != SQLITE_OK)
    throw StoreError(where + ": cannot be opened: " + sqliteMessage(db, rc) +
                     "; it was left unchanged");
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  try {
    const auto app = static_cast<uint32_t>(queryInt(db, "PRAGMA application_id"));
    const int64_t version = queryInt(db, "PRAGMA user_version");
    const int64_t objects = queryInt(db, "SELECT count(*) FROM sqlite_schema");
    if (app != static_cast<uint32_t>(kApplicationId) &&
        !(app == 0 && version == 0 && objects == 0)) {
      std::string tables;
      Statement s(db, "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name LIMIT 6");
      for (int i = 0; s.step(); ++i) tables += (i ? ", " : "") + (i == 5 ? "..." : s.text(0));
      throw StoreError(where + ": is another program's SQLite database (application_id " +
                       hex32(app) + ", tables: " + (tables.empty() ? "none" : tables) +
                       "), not a MoLA run store; it was left unchanged");
    }
    if (version > static_cast<int64_t>(supported))
      throw StoreError(where + ": was written by a newer MoLA Workbench (schema version " +
                       std::to_string(version) + "; this program reads up to version " +
                       std::to_string(supported) + "); it was left unchanged");
    if (size <= kQuickCheckMaxBytes) {
      Statement check(db, "PRAGMA quick_check(3)");
      std::string problems;
      while (check.step()) {
        std::string row = check.text(0);
        if (row == "ok") continue;
        std::replace(row.begin(), row.end(), '\n', ' ');
        problems += (problems.empty() ? "" : "; ") + row;
      }
      if (!problems.empty())
        throw StoreError(where + ": is corrupt (" + problems + "); it was left unchanged");
    }
  } catch (const SqliteFailure& e) {
    throw StoreError(where + ": is corrupt or not a database: " + e.what() +
                     "; it was left unchanged");
  }
}

void checkFolderWritable(const fs::path& path, bool file_exists) {
  const fs::path folder = parentFolder(path);
  std::error_code ec;
  if (!fs::is_directory(folder, ec))
    throw StoreError(path.string() + ": cannot create the database: the folder " + folder.string() +
                     " does not exist");
  if (access(folder.c_str(), W_OK) != 0)
    throw StoreError(
        path.string() + ": " +
        (file_exists
             ? "cannot open the database for writing: the folder " + folder.string() +
                   " is not writable (the run store keeps its -wal and "
                   "-shm files beside the database)"
             : "cannot create the database: the folder " + folder.string() + " is not writable"));
  if (file_exists && access(path.c_str(), W_OK) != 0)
    throw StoreError(path.string() + ": cannot open the database for writing: the file is " +
                     "read-only");
}

void requireRun(sqlite3* db, const fs::path& path, int64_t run) {
  Statement s(db, "SELECT 1 FROM runs WHERE id = ?");
  s.bindInt(1, run);
  if (!s.step()) throw StoreError(path.string() + ": no run with id " + std::to_string(run));
}

constexpr const char* kRunColumns =
    "SELECT id, name, status, created_at, finished_at, config_json, allocation, model, host, "
    "message, COALESCE((SELECT MAX(step) FROM metrics WHERE metrics.run = runs.id), 0) FROM runs";

RunRecord readRun(const Statement& s) {
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
  return r;
}

// Brings the file from its schema version to steps.size(), all steps in one transaction, so a
// failed step leaves the file at its old version. Foreign-key enforcement is off while migrating
// (a step may rebuild a table, which PRAGMA foreign_keys cannot allow inside a transaction) and
// checked with PRAGMA foreign_key_check before the commit.
void migrate(sqlite3* db, const fs::path& path, const std::vector<std::string>& steps) {
  const auto target = static_cast<int64_t>(steps.size());
  if (queryInt(db, "PRAGMA application_id") == kApplicationId &&
      queryInt(db, "PRAGMA user_version") == target)
    return;
  exec(db, "PRAGMA foreign_keys = OFF");
  int64_t from = 0;
  try {
    transaction(db, path, true, "cannot open the database", [&] {
      // Read again under the write lock: another process may have created or upgraded the file.
      const int64_t app = queryInt(db, "PRAGMA application_id");
      from = queryInt(db, "PRAGMA user_version");
      if (app != kApplicationId) {
        if (app != 0 || from != 0 || queryInt(db, "SELECT count(*) FROM sqlite_schema") != 0)
          throw StoreError(path.string() + ": is another program's SQLite database; it was " +
                           "left unchanged");
        exec(db, "PRAGMA application_id = " + std::to_string(kApplicationId));
      }
      if (from > target)
        throw StoreError(path.string() + ": was written by a newer MoLA Workbench (schema " +
                         "version " + std::to_string(from) + "; this program reads up to " +
                         "version " + std::to_string(target) + ")");
      for (int64_t v = from; v < target; ++v) {
        try {
          exec(db, steps[static_cast<size_t>(v)]);
          exec(db, "PRAGMA user_version = " + std::to_string(v + 1));
        } catch (const SqliteFailure& e) {
          throw SqliteFailure("upgrading the schema from version " + std::to_string(v) + " to " +
                              std::to_string(v + 1) + " failed: " + e.what() +
                              " (the file stays at version " + std::to_string(from) + ")");
        }
      }
      Statement fk(db, "PRAGMA foreign_key_check");
      if (fk.step())
        throw SqliteFailure("the upgraded schema breaks a foreign key in table " + fk.text(0) +
                            " (the file stays at version " + std::to_string(from) + ")");
    });
  } catch (...) {
    exec(db, "PRAGMA foreign_keys = ON");
    throw;
  }
  exec(db, "PRAGMA foreign_keys = ON");
}

}  // namespace

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
  static const std::vector<std::string> kSteps = {kSchemaV1};
  return kSteps;
}

RunStore RunStore::open(const fs::path& path, bool create) {
  return openWithMigrations(path, create, migrations());
}

RunStore RunStore::openWithMigrations(const fs::path& path, bool create,
                                      const std::vector<std::string>& steps) {
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
    inspectExisting(path, size, steps.size());
  }
  checkFolderWritable(path, exists);

  RunStore store;
  store.m_path = path;
  const int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
  const int rc = sqlite3_open_v2(path.c_str(), &store.m_db, flags, nullptr);
  if (rc != SQLITE_OK)
    throw StoreError(where + ": cannot open the database: " + sqliteMessage(store.m_db, rc));
  sqlite3_busy_timeout(store.m_db, kBusyTimeoutMs);
  try {
    std::string journal;
    {
      Statement mode(store.m_db, "PRAGMA journal_mode = WAL");
      if (mode.step()) journal = mode.text(0);
    }
    if (journal != "wal")
      throw SqliteFailure("cannot switch to WAL mode (the journal mode stays '" + journal +
                          "'; is the file on a network filesystem?)");
    exec(store.m_db, "PRAGMA synchronous = NORMAL");
    exec(store.m_db, "PRAGMA foreign_keys = ON");
    migrate(store.m_db, path, steps);
  } catch (const SqliteFailure& e) {
    throw StoreError(where + ": cannot open the database: " + e.what());
  }
  return store;
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
    : m_path(std::move(other.m_path)), m_db(std::exchange(other.m_db, nullptr)) {}

RunStore& RunStore::operator=(RunStore&& other) noexcept {
  std::swap(m_path, other.m_path);
  std::swap(m_db, other.m_db);
  return *this;
}

RunStore::~RunStore() {
  if (m_db) sqlite3_close_v2(m_db);
}

int64_t RunStore::createRun(const std::string& name, const std::string& config_json,
                            const std::string& allocation, const std::string& model) {
  int64_t id = 0;
  transaction(m_db, m_path, true, "creating run '" + name + "'", [&] {
    Statement s(m_db,
                "INSERT INTO runs (name, status, created_at, config_json, allocation, model, "
                "host, pid, hostname, process_tag) VALUES (?, 'running', ?, ?, ?, ?, ?, ?, ?, ?)");
    s.bindText(1, name)
        .bindText(2, nowUtc())
        .bindText(3, config_json)
        .bindText(4, allocation)
        .bindText(5, model)
        .bindText(6, hostDescription())
        .bindInt(7, getpid())
        .bindText(8, hostName())
        .bindText(9, processTag(getpid()));
    s.run();
    id = sqlite3_last_insert_rowid(m_db);
  });
  return id;
}

void RunStore::setStatus(int64_t run, RunStatus status, const std::string& message) {
  transaction(m_db, m_path, true, "setting the status of run " + std::to_string(run), [&] {
    requireRun(m_db, m_path, run);
    if (status == RunStatus::Running) {
      // A resumed run belongs to this process now: markInterruptedRuns checks this pid.
      Statement s(m_db,
                  "UPDATE runs SET status = 'running', finished_at = '', message = ?, host = ?, "
                  "pid = ?, hostname = ?, process_tag = ? WHERE id = ?");
      s.bindText(1, message)
          .bindText(2, hostDescription())
          .bindInt(3, getpid())
          .bindText(4, hostName())
          .bindText(5, processTag(getpid()))
          .bindInt(6, run);
      s.run();
    } else {
      Statement s(m_db, "UPDATE runs SET status = ?, finished_at = ?, message = ? WHERE id = ?");
      s.bindText(1, runStatusName(status)).bindText(2, nowUtc()).bindText(3, message);
      s.bindInt(4, run).run();
    }
  });
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

void RunStore::addRouterStats(int64_t run, const RouterStatsSnapshot& snapshot) {
  const std::string what = "adding router statistics of step " + std::to_string(snapshot.step) +
                           " to run " + std::to_string(run);
  for (const LayerRouterStats& layer : snapshot.layers)
    if (layer.token_fraction.size() != layer.mean_probability.size())
      throw StoreError(m_path.string() + ": " + what + ": layer " + std::to_string(layer.layer) +
                       " has " + std::to_string(layer.token_fraction.size()) +
                       " token fractions but " + std::to_string(layer.mean_probability.size()) +
                       " mean probabilities");
  transaction(m_db, m_path, true, what, [&] {
    requireRun(m_db, m_path, run);
    // A snapshot at a step already stored replaces that step's snapshot as a whole.
    for (const char* sql : {"DELETE FROM router_stats WHERE run = ? AND step = ?",
                            "DELETE FROM router_layer_stats WHERE run = ? AND step = ?"}) {
      Statement del(m_db, sql);
      del.bindInt(1, run).bindInt(2, snapshot.step).run();
    }
    Statement layer_row(m_db,
                        "INSERT INTO router_layer_stats (run, step, layer, module, tokens, "
                        "entropy, normalized_entropy, load_cv) VALUES (?, ?, ?, '', ?, ?, ?, ?)");
    Statement expert_row(m_db,
                         "INSERT INTO router_stats (run, step, layer, module, expert, fraction, "
                         "mean_prob) VALUES (?, ?, ?, '', ?, ?, ?)");
    layer_row.bindInt(1, run).bindInt(2, snapshot.step);
    expert_row.bindInt(1, run).bindInt(2, snapshot.step);
    for (const LayerRouterStats& layer : snapshot.layers) {
      layer_row.bindInt(3, layer.layer)
          .bindInt(4, layer.tokens)
          .bindReal(5, layer.entropy)
          .bindReal(6, layer.normalized_entropy)
          .bindReal(7, layer.load_cv);
      layer_row.run();
      expert_row.bindInt(3, layer.layer);
      for (size_t i = 0; i < layer.token_fraction.size(); ++i) {
        expert_row.bindInt(4, static_cast<int64_t>(i))
            .bindReal(5, layer.token_fraction[i])
            .bindReal(6, layer.mean_probability[i]);
        expert_row.run();
      }
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
  transaction(
      m_db, m_path, true,
      "adding the checkpoint of step " + std::to_string(step) + " to run " + std::to_string(run),
      [&] {
        requireRun(m_db, m_path, run);
        Statement s(m_db,
                    "INSERT OR REPLACE INTO checkpoints (run, step, path, created_at) "
                    "VALUES (?, ?, ?, ?)");
        s.bindInt(1, run).bindInt(2, step).bindText(3, path).bindText(4, nowUtc()).run();
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
                                "DELETE FROM eval_scores WHERE run = ? AND step > ?"}) {
          Statement s(m_db, sql);
          s.bindInt(1, run).bindInt(2, step).run();
        }
      });
}

void RunStore::deleteRun(int64_t run) {
  transaction(m_db, m_path, true, "deleting run " + std::to_string(run), [&] {
    requireRun(m_db, m_path, run);
    // Everything else the run owns goes with it (ON DELETE CASCADE).
    Statement s(m_db, "DELETE FROM runs WHERE id = ?");
    s.bindInt(1, run).run();
  });
}

int RunStore::markInterruptedRuns() {
  int marked = 0;
  transaction(m_db, m_path, true, "marking interrupted runs", [&] {
    Statement running(m_db,
                      "SELECT id, pid, hostname, process_tag FROM runs WHERE status = 'running'");
    std::vector<std::pair<int64_t, std::string>> dead;  // run id, message
    while (running.step()) {
      const int64_t pid = running.integer(1);
      const std::string hostname = running.text(2);
      if (processAlive(hostname, pid, running.text(3))) continue;
      dead.emplace_back(running.integer(0), "the process running it (pid " + std::to_string(pid) +
                                                " on " + hostname +
                                                ") ended without finishing it; it can be resumed");
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
  transaction(m_db, m_path, false, "listing runs", [&] {
    Statement s(m_db, (std::string(kRunColumns) + " ORDER BY id").c_str());
    while (s.step()) runs.push_back(readRun(s));
  });
  return runs;
}

RunRecord RunStore::run(int64_t id) const {
  RunRecord record;
  transaction(m_db, m_path, false, "reading run " + std::to_string(id), [&] {
    Statement s(m_db, (std::string(kRunColumns) + " WHERE id = ?").c_str());
    s.bindInt(1, id);
    if (!s.step()) throw StoreError(m_path.string() + ": no run with id " + std::to_string(id));
    record = readRun(s);
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

std::vector<RouterStatsSnapshot> RunStore::routerStats(int64_t run) const {
  std::vector<RouterStatsSnapshot> snapshots;
  transaction(
      m_db, m_path, false, "reading the router statistics of run " + std::to_string(run), [&] {
        // (step, layer) -> where that layer sits in `snapshots`.
        std::map<std::pair<int64_t, int64_t>, std::pair<size_t, size_t>> where;
        Statement layers(m_db,
                         "SELECT step, layer, tokens, entropy, normalized_entropy, load_cv FROM "
                         "router_layer_stats WHERE run = ? AND module = '' ORDER BY step, layer");
        layers.bindInt(1, run);
        while (layers.step()) {
          const int64_t step = layers.integer(0);
          if (snapshots.empty() || snapshots.back().step != step)
            snapshots.push_back(RouterStatsSnapshot{step, {}});
          LayerRouterStats l;
          l.layer = static_cast<int>(layers.integer(1));
          l.tokens = layers.integer(2);
          l.entropy = layers.real(3);
          l.normalized_entropy = layers.real(4);
          l.load_cv = layers.real(5);
          where[{step, l.layer}] = {snapshots.size() - 1, snapshots.back().layers.size()};
          snapshots.back().layers.push_back(std::move(l));
        }
        Statement experts(m_db,
                          "SELECT step, layer, expert, fraction, mean_prob FROM router_stats "
                          "WHERE run = ? AND module = '' ORDER BY step, layer, expert");
        experts.bindInt(1, run);
        while (experts.step()) {
          auto it = where.find({experts.integer(0), experts.integer(1)});
          const int64_t expert = experts.integer(2);
          if (it == where.end() || expert < 0) continue;  // rows the schema keeps paired
          LayerRouterStats& l = snapshots[it->second.first].layers[it->second.second];
          const auto i = static_cast<size_t>(expert);
          if (l.token_fraction.size() <= i) {
            l.token_fraction.resize(i + 1, std::numeric_limits<double>::quiet_NaN());
            l.mean_probability.resize(i + 1, std::numeric_limits<double>::quiet_NaN());
          }
          l.token_fraction[i] = experts.real(3);
          l.mean_probability[i] = experts.real(4);
        }
      });
  return snapshots;
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
  transaction(m_db, m_path, false, "reading the checkpoints of run " + std::to_string(run), [&] {
    Statement s(m_db, "SELECT step, path FROM checkpoints WHERE run = ? ORDER BY step");
    s.bindInt(1, run);
    while (s.step()) out.push_back({s.integer(0), s.text(1)});
  });
  return out;
}

}  // namespace mola
