// SPDX-License-Identifier: GPL-3.0-or-later
// Checks on a database file before the run store writes to it, through SQLite alone.
#include "store/store_file_checks.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "store/sqlite_support.h"

namespace mola::store_detail {

namespace fs = std::filesystem;

namespace {

// PRAGMA quick_check reads the whole file; above this size opening would take seconds.
constexpr uintmax_t kQuickCheckMaxBytes = uintmax_t{256} << 20;

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

}  // namespace

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

namespace {

// Throws when the first 100 bytes of the file, `h`, cannot be a healthy SQLite database of `size`
// bytes.
void checkHeader(const fs::path& path, const unsigned char (&h)[100], uintmax_t size,
                 bool has_wal) {
  const std::string where = path.string();
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

// The first 100 bytes of the database file, read through the connection's own file handle:
// nothing but SQLite may open the file while this process may hold a connection to it (closing
// any other descriptor of the file would drop the POSIX locks of every connection in the
// process). Bytes past the end of a short file read as zeros.
void readHeader(sqlite3* db, const fs::path& path, unsigned char (&h)[100]) {
  sqlite3_file* file = nullptr;
  if (sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &file) != SQLITE_OK || !file ||
      !file->pMethods)
    throw StoreError(path.string() + ": cannot be read; it was left unchanged");
  const int rc = file->pMethods->xRead(file, h, sizeof h, 0);
  if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ)
    throw StoreError(path.string() + ": cannot be read (" + sqlite3_errstr(rc) +
                     "); it was left unchanged");
}

}  // namespace

// Opens an existing file read-only and checks that it is a healthy run store (or an empty
// database) that this program's `supported` schema version can read. Writes nothing: without a
// write-ahead log the file is opened immutable, so not even -wal/-shm files appear beside it.
void inspectExisting(const fs::path& path, uintmax_t size, size_t supported) {
  const std::string where = path.string();
  const bool has_wal = fs::exists(fs::path(path.string() + "-wal"));

  sqlite3* db = nullptr;
  const std::string uri = fileUri(path, has_wal ? "mode=ro" : "mode=ro&immutable=1");
  const int rc = sqlite3_open_v2(uri.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nullptr);
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> guard(db, sqlite3_close_v2);
  if (rc != SQLITE_OK)
    throw StoreError(where + ": cannot be opened: " + sqliteMessage(db, rc) +
                     "; it was left unchanged");
  unsigned char h[100] = {};
  readHeader(db, path, h);
  checkHeader(path, h, size, has_wal);
  sqlite3_busy_timeout(db, RunStore::kBusyTimeoutMs);
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

}  // namespace mola::store_detail
