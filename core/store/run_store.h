// SPDX-License-Identifier: GPL-3.0-or-later
// RunStore: every run in one SQLite file (WAL), its metrics, router statistics, scores and
// checkpoints (torch-free; one RunStore object per thread).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
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
 public:
  // Busy: another connection held the write lock for longer than the busy timeout (worth
  // retrying later); Other: everything else.
  enum class Kind { Other, Busy };
  explicit StoreError(const std::string& what, Kind kind = Kind::Other)
      : std::runtime_error(what), m_kind(kind) {}
  bool busy() const { return m_kind == Kind::Busy; }

 private:
  Kind m_kind;
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
  std::string host;               // hostname, OS, CPU/GPU, no git info
  std::string message;            // why it failed / stopped
  int64_t last_step = 0;          // highest step with a metric
  std::string note;               // the user's note (free text)
  std::vector<std::string> tags;  // sorted
  int64_t study = 0;              // the study that queued it (0: none)
  std::string variant;            // its variant in that study
};
// A run stored as running whose trainer is gone reads as Interrupted (with a message saying so)
// even before markInterruptedRuns records it, so a read-only store shows it right too.

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

// The benchmark a run is ranked on: `evaluated` (evaluatedBenchmark of its experiment: what its
// training scores) when a score has it, else the mean of its tasks when scored, else the first
// benchmark its scores name; empty without scores. Scores that `mola eval --run` adds on other
// benchmarks are thus never ranked in its place. Final and best scores, in lists and studies, are
// of this benchmark.
std::string primaryBenchmark(const std::vector<EvalScore>& scores,
                             const std::string& evaluated = "");
// evaluatedBenchmark of the run's stored experiment; empty when it cannot be read.
std::string evaluatedBenchmarkOf(const RunRecord& run);

// Whether every word of `query` occurs (ignoring ASCII case) in the run's name, note, tags,
// variant, allocation, model or status: what the run lists search.
bool runMatchesSearch(const RunRecord& run, const std::string& query);

// A study (core/study/study_spec.h): a base experiment crossed with variants and seeds, whose runs
// wait in the queue until a `mola study run` (or the workbench) trains them.
struct StudyRecord {
  int64_t id = 0;
  std::string name;
  std::string created_at;
  std::string spec_json;  // the study document with its base experiment written in
  std::string baseline;   // the variant the others are compared with
};

enum class QueueState { Waiting, Started, Cancelled };
std::string queueStateName(QueueState s);  // "waiting", "started", "cancelled"

// A run to queue: what createRun takes, plus its place in a study.
struct QueuedRun {
  std::string variant;  // empty for a run queued on its own
  int64_t seed = 0;
  std::string name, config_json, allocation, model;
};

// One place in the queue: waiting, or the record of the run it became.
struct QueueItem {
  int64_t id = 0;
  int64_t study = 0;  // 0: queued on its own
  std::string variant;
  int64_t seed = 0;
  std::string name, config_json, allocation, model;
  QueueState state = QueueState::Waiting;
  int64_t run = 0;  // the run it became (0: not started, or that run was deleted)
  std::string created_at;
};

// What addStudy did.
struct StudyAdded {
  int64_t id = 0;
  int added = 0;     // items queued now
  int existing = 0;  // items the study already had
};

struct CheckpointRecord {
  int64_t step = 0;
  std::string path;
};

// Runs, their results, and their folders. A run's folder is <database file>-runs/<id>/ (for
// runs.sqlite: runs.sqlite-runs/3/): it belongs to this database alone, holds the run's
// checkpoints and its lock file. The RunStore that creates or claims a run holds that lock (an
// flock) until the run gets a final status or the store closes: that lock, not a pid, is what
// tells a live run from one whose process has gone, across PID namespaces and however the process
// ended. Nothing but SQLite opens the database file itself.
class RunStore {
 public:
  // Opens (creating when absent and `create`) the database, in WAL mode, migrating an older
  // schema. A file that is not SQLite, is corrupt, or is another program's database is a
  // StoreError, and the file is left exactly as it was.
  static RunStore open(const std::filesystem::path& path, bool create = true);
  // Opens an existing store for reading only: no migration, no write of any kind, so it works on a
  // read-only file or folder and on a full disk. Writing through it throws a StoreError. An empty
  // file (a store another process is creating) reads as a store without runs.
  static RunStore openReadOnly(const std::filesystem::path& path);
  // $MOLA_DB, else $XDG_DATA_HOME/mola-workbench/runs.sqlite, else ~/.local/share/...
  // open() creates no folders (a mistyped --db should not make one): create the parent first.
  static std::filesystem::path defaultPath();
  static constexpr int kSchemaVersion = 3;
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

  // The database file, as an absolute path.
  const std::filesystem::path& path() const { return m_path; }
  bool readOnly() const { return m_read_only; }
  // A random id given to the database when it was created (or upgraded to schema version 2);
  // every checkpoint records it, so that a checkpoint is never taken for another store's. Empty
  // for a read-only store of schema version 1.
  const std::string& storeId() const { return m_store_id; }
  // <database file>-runs/<run>: the run's folder.
  std::filesystem::path runDirectory(int64_t run) const;
  // How long a write waits for another connection's write lock before it fails as busy
  // (kBusyTimeoutMs unless set).
  static constexpr int kBusyTimeoutMs = 5000;
  // How long opening for writing, creating a run and claiming one wait for another process that
  // holds the write lock (a long transaction, a backup, another store opening the same new file)
  // before they fail the command.
  static constexpr int kPatientBusyTimeoutMs = 120000;
  void setBusyTimeout(int milliseconds);

  // Writing (each call is one transaction; no fsync per metric).
  // A new run, stored as running, whose folder and lock this store holds from the same
  // transaction on.
  int64_t createRun(const std::string& name, const std::string& config_json,
                    const std::string& allocation, const std::string& model);
  // Makes a stopped, failed or interrupted run (or a running one whose process has gone) this
  // store's to continue: takes its lock (waiting up to 2 s for a process that only probes it) and
  // marks it running, or throws a StoreError that names the run: completed, unknown, or trained by
  // a live process (its pid and host). Two processes claiming one run: exactly one succeeds.
  void claimRun(int64_t run);
  // Completed, Stopped, Failed and Interrupted end the run: the store then lets go of its lock.
  // Running is claimRun().
  void setStatus(int64_t run, RunStatus status, const std::string& message = "");
  void addMetrics(int64_t run, const std::vector<MetricPoint>& points);
  void addRouterStats(int64_t run, const RouterStatsSnapshot& snapshot);
  int64_t addEvalScore(int64_t run, const EvalScore& score,
                       const std::vector<StoredPrediction>& predictions = {});
  // `path` is kept relative to the database's folder when it lies inside it, so that the database
  // and its run folders can move together.
  void addCheckpoint(int64_t run, int64_t step, const std::string& path);
  void removeCheckpoint(int64_t run, int64_t step);
  // Removes what a resumed run recomputes: metrics, router stats, scores and checkpoint records
  // after `step`.
  void truncateAfter(int64_t run, int64_t step);
  // Deletes the run, its results and its folder. Refuses (StoreError) a run that a live process
  // trains. When the folder cannot be removed the rows are gone and the StoreError says so.
  void deleteRun(int64_t run);
  // Runs left "running" by a process that no longer exists become Interrupted; returns how many.
  int markInterruptedRuns();
  // The note (free text) and the tags of a run; tags are trimmed, empty ones dropped.
  void setNote(int64_t run, const std::string& note);
  // Replaces the run's host record (a data-parallel run lists every rank's host and device).
  void setHost(int64_t run, const std::string& host);
  void setTags(int64_t run, const std::vector<std::string>& tags);

  // Studies and the queue (schema version 3; a store of an older version has none). Items are
  // taken in `position` order; every call is one transaction, so two processes working through
  // one queue never start an item twice.
  // Records study `name` and queues its runs after everything already waiting. A study of that
  // name already here keeps what it has and gets only the (variant, seed) pairs it lacks, and its
  // document and baseline are replaced; a pair it has with another configuration is a StoreError
  // naming the pair (rename the study to queue both).
  StudyAdded addStudy(const std::string& name, const std::string& spec_json,
                      const std::string& baseline, const std::vector<QueuedRun>& runs);
  std::vector<StudyRecord> listStudies() const;
  StudyRecord study(int64_t id) const;  // StoreError naming the id when absent
  std::optional<StudyRecord> findStudy(const std::string& name) const;
  // Queues one run on its own, at the end of the queue; returns the item's id.
  int64_t enqueue(const QueuedRun& run);
  // The items (of one study when `study` > 0; every item when 0) in queue order, started and
  // cancelled ones included.
  std::vector<QueueItem> queueItems(int64_t study = 0) const;
  // Creates the run of the first waiting item (of `study` when > 0), as createRun does (this store
  // holds its lock), and marks the item started, in one transaction. An item whose run was
  // deleted waits again. Returns {item, run}, or nullopt when nothing waits.
  std::optional<std::pair<int64_t, int64_t>> startNextQueued(int64_t study = 0);
  // A waiting item is cancelled (it stays listed); a started one is a StoreError.
  void cancelQueued(int64_t item);
  // Moves a waiting item to just before waiting item `before` (0: to the end of the queue).
  void moveQueued(int64_t item, int64_t before);
  // Takes a variant out of a study, to queue it again with another configuration: deletes its
  // runs (deleteRun: a run a live process trains is refused, and nothing after it is deleted) and
  // its queue items. Returns how many items it had (0: the study has no such variant).
  int removeStudyVariant(int64_t study, const std::string& variant);

  // Reading.
  // Whether a live process (this one included) trains the run.
  bool isLive(int64_t run) const;
  std::vector<RunRecord> listRuns() const;
  RunRecord run(int64_t id) const;  // StoreError naming the id when absent
  // Points of one metric (all metrics when name is empty) with step > after_step, by step.
  std::vector<MetricPoint> metrics(int64_t run, const std::string& name = "",
                                   int64_t after_step = -1) const;
  std::vector<std::string> metricNames(int64_t run) const;
  std::vector<RouterStatsSnapshot> routerStats(int64_t run) const;
  // The newest snapshot only (a study's heatmaps need no history); none when the run has none.
  std::optional<RouterStatsSnapshot> lastRouterStats(int64_t run) const;
  std::vector<EvalScore> evalScores(int64_t run) const;
  std::vector<StoredPrediction> predictions(int64_t eval_id) const;
  // By step; paths as absolute paths.
  std::vector<CheckpointRecord> checkpoints(int64_t run) const;

 private:
  struct Leases;
  RunStore();
  // What a new run row holds.
  struct NewRun {
    std::string name, config_json, allocation, model;
  };
  // In one write transaction: `pick` says which run to create (nullopt: none, nothing is done),
  // the row is inserted and its folder locked, then `after` sees the new id. Returns the id.
  std::optional<int64_t> createRunIn(const std::function<std::optional<NewRun>()>& pick,
                                     const std::function<void(int64_t)>& after);
  // A StoreError unless the file has studies and the queue (schema version 3).
  void requireQueue(const std::string& what) const;
  // Whether run `run`, stored as running by process `pid` on `hostname`, has a live trainer.
  bool ownerAlive(int64_t run, int64_t pid, const std::string& hostname,
                  const std::string& process_tag) const;
  std::filesystem::path m_path;
  sqlite3* m_db = nullptr;
  bool m_read_only = false;
  bool m_empty = false;  // read-only, and no schema yet
  int64_t m_schema = 0;  // the file's schema version
  std::string m_store_id;
  std::unique_ptr<Leases> m_leases;  // the run locks this store holds
};

}  // namespace mola
