// SPDX-License-Identifier: GPL-3.0-or-later
// RunStore: every run in one SQLite file (WAL), its metrics, router statistics, scores and
// checkpoints (torch-free; one RunStore object per thread).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "adapters/router_stats.h"

struct sqlite3;

namespace mola {

// Any store failure; the message names the database file and what went wrong.
class StoreError : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum class RunStatus { Running, Completed, Stopped, Failed, Interrupted };
std::string runStatusName(RunStatus s);  // "running", "completed", ...
RunStatus parseRunStatus(const std::string& name);

struct RunRecord {
  int64_t id = 0;
  std::string name;
  RunStatus status = RunStatus::Running;
  std::string created_at;   // ISO 8601 UTC
  std::string finished_at;  // empty while running
  std::string config_json;  // the full ExperimentConfig document
  std::string allocation;   // per-layer list, e.g. "2,2,4,4"
  std::string model;
  std::string host;       // hostname, OS, CPU/GPU, no git info
  std::string message;    // why it failed / stopped
  int64_t last_step = 0;  // highest step with a metric
};

struct MetricPoint {
  int64_t step = 0;
  std::string name;  // "loss", "balance_loss", "lr", "grad_norm", "tokens_per_s", "elapsed_s", ...
  double value = 0.0;
};

struct EvalScore {
  int64_t id = 0;  // set by the store
  int64_t step = 0;
  std::string benchmark;  // e.g. the data file's name
  std::string split;
  std::string protocol;  // likelihood | generate
  double accuracy = 0.0;
  int64_t n = 0;
  double ci_low = 0.0, ci_high = 0.0;
};

struct StoredPrediction {
  std::string example_id;
  int predicted = -1;
  bool correct = false;
};

struct CheckpointRecord {
  int64_t step = 0;
  std::string path;
};

class RunStore {
 public:
  // Opens (creating when absent and `create`) the database, in WAL mode, migrating an older
  // schema. A file that is not SQLite, is corrupt, or is another program's database is a
  // StoreError, and the file is left exactly as it was.
  static RunStore open(const std::filesystem::path& path, bool create = true);
  // $MOLA_DB, else $XDG_DATA_HOME/mola-workbench/runs.sqlite, else ~/.local/share/...
  // open() creates no folders (a mistyped --db should not make one): create the parent first.
  static std::filesystem::path defaultPath();
  static constexpr int kSchemaVersion = 1;
  // The schema migrations in order: element i turns schema version i into i + 1 (element 0
  // creates the tables in an empty file), so there are kSchemaVersion of them.
  static const std::vector<std::string>& migrations();
  // open() with another migration list, whose length is the schema version it brings the file
  // to. A test hook: it lets tests add a step to check that upgrades keep the data, that a
  // failed step leaves the file at its old version, and that a newer file is refused.
  static RunStore openWithMigrations(const std::filesystem::path& path, bool create,
                                     const std::vector<std::string>& migrations);

  RunStore(RunStore&&) noexcept;
  RunStore& operator=(RunStore&&) noexcept;
  ~RunStore();

  const std::filesystem::path& path() const { return m_path; }

  // Writing (each call is one transaction; no fsync per metric).
  int64_t createRun(const std::string& name, const std::string& config_json,
                    const std::string& allocation, const std::string& model);
  void setStatus(int64_t run, RunStatus status, const std::string& message = "");
  void addMetrics(int64_t run, const std::vector<MetricPoint>& points);
  void addRouterStats(int64_t run, const RouterStatsSnapshot& snapshot);
  int64_t addEvalScore(int64_t run, const EvalScore& score,
                       const std::vector<StoredPrediction>& predictions = {});
  void addCheckpoint(int64_t run, int64_t step, const std::string& path);
  // Removes what a resumed run recomputes: metrics, router stats and scores after `step`.
  void truncateAfter(int64_t run, int64_t step);
  void deleteRun(int64_t run);
  // Runs left "running" by a process that no longer exists become Interrupted; returns how many.
  int markInterruptedRuns();

  // Reading.
  std::vector<RunRecord> listRuns() const;
  RunRecord run(int64_t id) const;  // StoreError naming the id when absent
  // Points of one metric (all metrics when name is empty) with step > after_step, by step.
  std::vector<MetricPoint> metrics(int64_t run, const std::string& name = "",
                                   int64_t after_step = -1) const;
  std::vector<std::string> metricNames(int64_t run) const;
  std::vector<RouterStatsSnapshot> routerStats(int64_t run) const;
  std::vector<EvalScore> evalScores(int64_t run) const;
  std::vector<StoredPrediction> predictions(int64_t eval_id) const;
  std::vector<CheckpointRecord> checkpoints(int64_t run) const;

 private:
  RunStore() = default;
  std::filesystem::path m_path;
  sqlite3* m_db = nullptr;
};

}  // namespace mola
