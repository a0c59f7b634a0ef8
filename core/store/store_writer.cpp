// SPDX-License-Identifier: GPL-3.0-or-later
// StoreWriter: batches step metrics into the run store and records everything else at once.
#include "store/store_writer.h"

#include <utility>

namespace mola {

StoreWriter::StoreWriter(RunStore& store, int64_t run) : m_store(store), m_run(run) {}

StoreWriter::~StoreWriter() {
  try {
    flush();
  } catch (const std::exception&) {
    // A destructor must not throw; finished() has already flushed in every normal ending.
  }
}

void StoreWriter::stepFinished(const StepMetrics& m) {
  for (auto [name, value] : {std::pair{"loss", m.loss},
                             {"balance_loss", m.balance_loss},
                             {"lr", m.lr},
                             {"grad_norm", m.grad_norm},
                             {"tokens_per_s", m.tokens_per_s},
                             {"elapsed_s", m.elapsed_s}})
    m_pending.push_back({m.step, name, value});
  if (m_pending.size() >= 50 || Clock::now() - m_last_flush > std::chrono::seconds(1)) flush();
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

void StoreWriter::routerStats(const RouterStatsSnapshot& s) {
  flush();
  m_store.addRouterStats(m_run, s);
}

void StoreWriter::evaluated(const EvalReport& e) {
  flush();
  const EvalScore score = evalScoreOf(e);
  std::vector<StoredPrediction> predictions;
  predictions.reserve(e.predictions.size());
  for (const auto& p : e.predictions) predictions.push_back({p.example_id, p.predicted, p.correct});
  m_last_eval_id = m_store.addEvalScore(m_run, score, predictions);
}

void StoreWriter::checkpointSaved(int64_t step, const std::string& dir) {
  flush();
  m_store.addCheckpoint(m_run, step, dir);
}

void StoreWriter::finished(TrainOutcome outcome, const std::string& message) {
  flush();
  m_store.setStatus(m_run,
                    outcome == TrainOutcome::Completed ? RunStatus::Completed
                    : outcome == TrainOutcome::Stopped ? RunStatus::Stopped
                                                       : RunStatus::Failed,
                    message);
}

void StoreWriter::flush() {
  // Cleared before writing: a failed write is reported once, not retried on every later call.
  std::vector<MetricPoint> points;
  points.swap(m_pending);
  m_last_flush = Clock::now();
  if (!points.empty()) m_store.addMetrics(m_run, points);
}

}  // namespace mola
