// SPDX-License-Identifier: GPL-3.0-or-later
// StoreWriter: an ordered queue of store writes, batched metrics, retried while the database is
// locked by another process.
#include "store/store_writer.h"

#include <thread>
#include <utility>

namespace mola {

namespace {

// While training, a write waits this long for another connection's lock before it is queued for
// later (a step must not stall for the store's full busy timeout) ...
constexpr int kTrainingBusyTimeoutMs = 250;
// ... and is retried no more often than this while it waits.
constexpr auto kRetryInterval = std::chrono::seconds(2);

}  // namespace

StoreWriter::StoreWriter(RunStore& store, int64_t run) : m_store(store), m_run(run) {
  m_store.setBusyTimeout(kTrainingBusyTimeoutMs);
}

StoreWriter::~StoreWriter() {
  try {
    m_store.setBusyTimeout(RunStore::kBusyTimeoutMs);
    flush();
  } catch (const std::exception&) {
    // A destructor must not throw; finished() has reported any failure in a normal ending.
  }
}

EvalScore evalScoreOf(const EvalReport& e) {
  EvalScore score;
  score.step = e.step;
  score.benchmark = e.benchmark;
  score.split = e.split;
  score.protocol = e.protocol;
  score.accuracy = e.accuracy;
  score.n = e.n;
  score.ci_low = e.ci_low;
  score.ci_high = e.ci_high;
  return score;
}

std::vector<MetricPoint> metricPointsOf(const StepMetrics& m) {
  std::vector<MetricPoint> points = {{m.step, "loss", m.loss},
                                     {m.step, "balance_loss", m.balance_loss},
                                     {m.step, "lr", m.lr},
                                     {m.step, "grad_norm", m.grad_norm},
                                     {m.step, "tokens_per_s", m.tokens_per_s},
                                     {m.step, "padding", m.padding},
                                     {m.step, "elapsed_s", m.elapsed_s}};
  if (m.peak_mem_mb >= 0) points.push_back({m.step, "peak_mem_mb", m.peak_mem_mb});
  return points;
}

void StoreWriter::stepFinished(const StepMetrics& m) {
  for (MetricPoint& p : metricPointsOf(m)) m_metrics.push_back(std::move(p));
  const auto since = Clock::now() - m_last_attempt;
  if (m_blocked ? since >= kRetryInterval
                : m_metrics.size() >= 50 || since > std::chrono::seconds(1))
    flush();
}

void StoreWriter::routerStats(const RouterStatsSnapshot& s) {
  enqueue([run = m_run, s](RunStore& store) { store.addRouterStats(run, s); });
}

std::vector<StoredPrediction> storedPredictionsOf(const EvalReport& e) {
  std::vector<StoredPrediction> predictions;
  predictions.reserve(e.predictions.size());
  for (const auto& p : e.predictions) predictions.push_back({p.example_id, p.predicted, p.correct});
  return predictions;
}

void StoreWriter::evaluated(const EvalReport& e) {
  enqueue([this, score = evalScoreOf(e), predictions = storedPredictionsOf(e)](RunStore& store) {
    m_last_eval_id = store.addEvalScore(m_run, score, predictions);
  });
}

void StoreWriter::checkpointSaved(int64_t step, const std::string& dir) {
  enqueue([run = m_run, step, dir](RunStore& store) { store.addCheckpoint(run, step, dir); });
}

void StoreWriter::checkpointRemoved(int64_t step, const std::string& /*dir*/) {
  enqueue([run = m_run, step](RunStore& store) { store.removeCheckpoint(run, step); });
}

void StoreWriter::finished(TrainOutcome outcome, const std::string& message) {
  const RunStatus status = outcome == TrainOutcome::Completed     ? RunStatus::Completed
                           : outcome == TrainOutcome::Stopped     ? RunStatus::Stopped
                           : outcome == TrainOutcome::Interrupted ? RunStatus::Interrupted
                                                                  : RunStatus::Failed;
  m_queue.push_back(
      [run = m_run, status, message](RunStore& store) { store.setStatus(run, status, message); });
  // The run is over: wait for a held lock rather than lose its last steps and its status.
  m_store.setBusyTimeout(RunStore::kBusyTimeoutMs);
  const Clock::time_point deadline = Clock::now() + m_final_wait;
  while (!drain(true)) {
    if (Clock::now() >= deadline)
      throw StoreError(m_store.path().string() + ": run " + std::to_string(m_run) + ": " +
                       std::to_string(waiting()) +
                       " writes (the last steps and the run's status) " +
                       "could not be stored: another process held the database's write lock for " +
                       "more than " + std::to_string(m_final_wait.count() / 1000) +
                       " s; the checkpoints on disk are kept");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

bool StoreWriter::flush() {
  return drain(false);
}

void StoreWriter::queueMetrics() {
  if (m_metrics.empty()) return;
  m_queue.push_back([run = m_run, points = std::move(m_metrics)](RunStore& store) {
    store.addMetrics(run, points);
  });
  m_metrics.clear();
}

void StoreWriter::enqueue(Write write) {
  queueMetrics();
  m_queue.push_back(std::move(write));
  if (!m_blocked || Clock::now() - m_last_attempt >= kRetryInterval) drain(false);
}

bool StoreWriter::drain(bool rethrow) {
  queueMetrics();
  m_last_attempt = Clock::now();
  while (!m_queue.empty()) {
    try {
      m_queue.front()(m_store);
    } catch (const StoreError& e) {
      if (rethrow && !e.busy()) throw;
      if (!m_blocked && m_notice)
        m_notice(std::string(e.what()) + "; training goes on and the writes are retried");
      m_blocked = true;
      return false;
    }
    m_queue.pop_front();
  }
  if (m_blocked && m_notice) m_notice("the run store takes writes again; nothing was lost");
  m_blocked = false;
  return true;
}

}  // namespace mola
