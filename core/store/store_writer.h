// SPDX-License-Identifier: GPL-3.0-or-later
// StoreWriter: a TrainingObserver that writes what a run reports into its RunStore (torch-free).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "store/run_store.h"
#include "train/training_observer.h"

namespace mola {

// The stored form of an evaluation report (without its predictions; id 0 until stored).
EvalScore evalScoreOf(const EvalReport& e);

// Metrics are batched (one transaction per second or per 50 points: a transaction per point
// would cost an fsync-like WAL commit each step); router statistics, scores, checkpoints and the
// final status are written as they come, after the pending metrics, so the store never shows a
// checkpoint or score ahead of the loss curve that led to it. Used by `mola train` and the GUI's
// TrainingController alike. Callbacks run on the training thread, which must own `store`.
class StoreWriter : public TrainingObserver {
 public:
  StoreWriter(RunStore& store, int64_t run);
  ~StoreWriter() override;  // flushes; a write error there is swallowed (the run was reported)

  void stepFinished(const StepMetrics& m) override;
  void routerStats(const RouterStatsSnapshot& s) override;
  void evaluated(const EvalReport& e) override;
  void checkpointSaved(int64_t step, const std::string& dir) override;
  // Completed/Stopped/Failed become the run's status, with `message`.
  void finished(TrainOutcome outcome, const std::string& message) override;

  // Writes the batched metrics now.
  void flush();
  // The database id of the score evaluated() stored last (0 before any).
  int64_t lastEvalScoreId() const { return m_last_eval_id; }

 private:
  using Clock = std::chrono::steady_clock;
  RunStore& m_store;
  int64_t m_run;
  std::vector<MetricPoint> m_pending;
  int64_t m_last_eval_id = 0;
  Clock::time_point m_last_flush = Clock::now();
};

}  // namespace mola
