// SPDX-License-Identifier: GPL-3.0-or-later
// The SQLite C API as the run store uses it: failures as exceptions, prepared statements, and
// transactions that roll back when anything throws (internal to core/store).
#pragma once

#include <sqlite3.h>

#include <cmath>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <limits>
#include <stdexcept>
#include <string>
#include <system_error>

#include "store/run_store.h"

namespace mola::store_detail {

// An SQLite failure inside an operation; the caller adds the file and the operation.
class SqliteFailure : public std::runtime_error {
 public:
  explicit SqliteFailure(const std::string& what, int code = SQLITE_ERROR)
      : std::runtime_error(what), m_code(code) {}
  int code() const { return m_code; }  // the SQLite result code

 private:
  int m_code;
};

// The time now as ISO 8601 UTC, as the store records times.
inline std::string nowUtc() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

inline std::string sqliteMessage(sqlite3* db, int rc) {
  std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  const int primary = rc & 0xff;
  if (db && (primary == SQLITE_IOERR || primary == SQLITE_CANTOPEN || primary == SQLITE_FULL)) {
    if (int sys = sqlite3_system_errno(db); sys != 0)
      msg += " (" + std::generic_category().message(sys) + ")";
  }
  return msg;
}

inline void exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqliteMessage(db, rc);
    sqlite3_free(err);
    throw SqliteFailure(msg, rc);
  }
}

// One prepared statement, reused (bind, step, reset) for every row of a call.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : m_db(db) {
    const int rc = sqlite3_prepare_v2(db, sql, -1, &m_stmt, nullptr);
    if (rc != SQLITE_OK) throw SqliteFailure(sqliteMessage(db, rc), rc);
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
    throw SqliteFailure(sqliteMessage(m_db, rc), rc);
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
    if (rc != SQLITE_OK) throw SqliteFailure(sqliteMessage(m_db, rc), rc);
    return *this;
  }
  sqlite3* m_db;
  sqlite3_stmt* m_stmt = nullptr;
};

inline int64_t queryInt(sqlite3* db, const char* sql) {
  Statement s(db, sql);
  return s.step() ? s.integer(0) : 0;
}

inline void rollback(sqlite3* db) {
  if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
}

// Runs `body` in one transaction (BEGIN IMMEDIATE for writes, so that the write lock is taken,
// with the busy timeout, before anything is read), rolled back when anything throws. SQLite
// failures become StoreErrors naming the file and `what`.
template <typename F>
void transaction(sqlite3* db, const std::filesystem::path& path, bool write,
                 const std::string& what, F&& body) {
  try {
    exec(db, write ? "BEGIN IMMEDIATE" : "BEGIN");
    body();
    exec(db, "COMMIT");
  } catch (const SqliteFailure& e) {
    rollback(db);
    const int primary = e.code() & 0xff;
    throw StoreError(path.string() + ": " + what + ": " + e.what(),
                     primary == SQLITE_BUSY || primary == SQLITE_LOCKED ? StoreError::Kind::Busy
                                                                        : StoreError::Kind::Other);
  } catch (...) {
    rollback(db);
    throw;
  }
}

// Throws a StoreError naming the file when the database has no run `run`.
void requireRun(sqlite3* db, const std::filesystem::path& path, int64_t run);

}  // namespace mola::store_detail
