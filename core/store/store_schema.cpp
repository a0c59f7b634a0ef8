// SPDX-License-Identifier: GPL-3.0-or-later
// The run store's schema versions and their migration.
#include "store/store_schema.h"

#include "store/sqlite_support.h"
#include "store/store_file_checks.h"

namespace mola::store_detail {

namespace fs = std::filesystem;

namespace {

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

// Schema version 2: the store's identity, which every checkpoint records. Run folders move from
// <folder>/runs/<id> (shared by every database in the folder) to <database file>-runs/<id>.
constexpr const char* kSchemaV2 = R"sql(
CREATE TABLE store_info (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO store_info (key, value) VALUES ('store_id', lower(hex(randomblob(16))));
)sql";

// Schema version 3: studies, the run queue (the runs a study or the workbench has waiting, in
// order; an item points at its run once started), and a note and tags on any run.
constexpr const char* kSchemaV3 = R"sql(
CREATE TABLE studies (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  created_at TEXT NOT NULL,
  spec_json TEXT NOT NULL,
  baseline TEXT NOT NULL DEFAULT ''
);
CREATE TABLE queue (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  study INTEGER REFERENCES studies(id) ON DELETE CASCADE,
  variant TEXT NOT NULL DEFAULT '',
  seed INTEGER NOT NULL DEFAULT 0,
  position REAL NOT NULL,
  name TEXT NOT NULL,
  config_json TEXT NOT NULL,
  allocation TEXT NOT NULL,
  model TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('waiting', 'started', 'cancelled')),
  run INTEGER UNIQUE REFERENCES runs(id) ON DELETE SET NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX queue_by_position ON queue(state, position);
CREATE INDEX queue_by_study ON queue(study);
ALTER TABLE runs ADD COLUMN note TEXT NOT NULL DEFAULT '';
CREATE TABLE tags (
  run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  tag TEXT NOT NULL,
  PRIMARY KEY (run, tag)
) WITHOUT ROWID;
)sql";

}  // namespace

const std::vector<std::string>& schemaMigrations() {
  static const std::vector<std::string> kSteps = {kSchemaV1, kSchemaV2, kSchemaV3};
  return kSteps;
}

// Foreign-key enforcement is off while migrating
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

}  // namespace mola::store_detail
