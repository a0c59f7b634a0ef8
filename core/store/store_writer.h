// SPDX-License-Identifier: GPL-3.0-or-later
// StoreWriter: a TrainingObserver that writes what a run reports into its RunStore (torch-free).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "store/run_store.h"
#include "train/training_observer.h"

namespace mola {

// The stored form of an evaluation report (without its predictions; id 0 until stored).
EvalScore evalScoreOf(const EvalReport& e);
// Its predictions as the store keeps them.
std::vector<StoredPrediction> storedPredictionsOf(const EvalReport& e);
// A step's metrics as the store keeps them and the Train view plots them: loss, balance_loss, lr,
// grad_norm, tokens_per_s, padding, elapsed_s, and peak_mem_mb where it is known.
std::vector<MetricPoint> metricPointsOf(const StepMetrics& m);

// Writes in the order the trainer reports, so the store never shows a checkpoint or score ahead
// of the loss curve that led to it. Metrics are batched (one transaction per second or per 50
// points: a transaction per point would cost a WAL commit each step); everything else is written
// as it comes. A write that fails (another process holding the database's write lock, a full disk)
// stays queued with everything after it, training goes on, and the queue is retried every couple
// of seconds, so no step is lost while the lock is held. finished() waits for a held lock (up to
// the final wait) before it gives up with a StoreError. Used by `mola train` and the GUI's
// TrainingController alike. Callbacks run on the training thread, which must own `store`.
class StoreWriter : public TrainingObserver {
 public:
  StoreWriter(RunStore& store, int64_t run);
  ~StoreWriter() override;  // one last attempt at what is queued; errors are swallowed

  void stepFinished(const StepMetrics& m) override;
  void routerStats(const RouterStatsSnapshot& s) override;
  void evaluated(const EvalReport& e) override;
  void checkpointSaved(int64_t step, const std::string& dir) override;
  void checkpointRemoved(int64_t step, const std::string& dir) override;
  // Completed/Stopped/Failed become the run's status, with `message`.
  void finished(TrainOutcome outcome, const std::string& message) override;

  // Tries to write everything queued now; false when something is still waiting.
  bool flush();
  // The database id of the score evaluated() stored last (0 before any, and while it waits).
  int64_t lastEvalScoreId() const { return m_last_eval_id; }
  // Writes waiting in the queue (metric batches count as one).
  size_t waiting() const { return m_queue.size() + (m_metrics.empty() ? 0 : 1); }
  // Told when writes start waiting (with the store's message) and when they get through again.
  void setNotice(std::function<void(const std::string&)> notice) { m_notice = std::move(notice); }
  // How long finished() keeps retrying a database whose write lock another process holds.
  void setFinalWait(std::chrono::milliseconds wait) { m_final_wait = wait; }

 private:
  using Clock = std::chrono::steady_clock;
  using Write = std::function<void(RunStore&)>;
  void queueMetrics();  // the batch being filled joins the queue
  void enqueue(Write write);
  // Writes the queue in order until one write fails; rethrows a failure that is not a held lock
  // when `rethrow`.
  bool drain(bool rethrow);

  RunStore& m_store;
  int64_t m_run;
  std::vector<MetricPoint> m_metrics;  // the batch being filled
  std::deque<Write> m_queue;
  int64_t m_last_eval_id = 0;
  Clock::time_point m_last_attempt = Clock::now();
  bool m_blocked = false;  // the last attempt failed
  std::function<void(const std::string&)> m_notice;
  std::chrono::milliseconds m_final_wait{std::chrono::minutes(10)};
};

}  // namespace mola
