// SPDX-License-Identifier: GPL-3.0-or-later
// TrainView: one run's live page (name, status, progress with tokens/s and ETA, pause/resume/stop,
// messages, and the training plots), fed by the controller or by stored points (torch-free).
#pragma once

#include <QString>
#include <QWidget>
#include <cstdint>
#include <vector>

#include "adapters/allocation.h"
#include "store/run_store.h"
#include "train/training_observer.h"

class QLabel;
class QProgressBar;
class QPushButton;

namespace mola::widgets {
class TrainingPlots;
}

namespace mola::app {

class TrainView : public QWidget {
  Q_OBJECT

 public:
  enum class Tone { Info, Success, Warning, Error };

  explicit TrainView(QWidget* parent = nullptr);

  // Shows `record`: its name, status and stored message. Another run than the one shown clears
  // the plots and the progress first; `total_steps` 0 means not known (the bar then counts steps
  // without an end).
  void showRun(const RunRecord& record, const Allocation& allocation, int64_t total_steps);
  // The shown run's row changed (status, message, steps); ignored for another run.
  void updateRecord(const RunRecord& record);
  // Back to the empty page.
  void clearRun();
  qint64 runId() const { return m_run_id; }
  RunStatus status() const { return m_status; }

  // A busy state before the first step: `what` is shown beside a bar that counts `step` of
  // `total` (total 0: a moving bar without an end).
  void showPreparing(const QString& what, int64_t step = 0, int64_t total = 0);
  // The preparation ended without training (a failure): the busy bar and its text go.
  void stopPreparing();
  // Training has begun (or resumed from info.first_step).
  void showStarted(const RunStarted& info);
  // One live step: the bar, tokens/s, ETA, and the plots.
  void addStep(const StepMetrics& metrics);
  // Points read from the store (a reopened or followed run), in step order per name.
  void addStoredMetrics(const std::vector<MetricPoint>& points);
  void addRouterStats(const RouterStatsSnapshot& snapshot);
  void addScore(const EvalScore& score);
  // Replaces the line under the progress bar.
  void setMessage(const QString& text, Tone tone = Tone::Info);
  QString message() const;
  // Where the points come from, shown after the status ("live", "following the database").
  void setSource(const QString& text);
  // Which buttons work now; each disabled one says why in its tooltip.
  void setControls(bool can_pause, bool can_resume, bool can_stop, const QString& resume_tip,
                   const QString& why_not = {});

  widgets::TrainingPlots* plots() const { return m_plots; }
  QProgressBar* progressBar() const { return m_progress; }
  QLabel* titleLabel() const { return m_title; }
  QLabel* statusLabel() const { return m_status_label; }
  QLabel* rateLabel() const { return m_rate; }
  QLabel* detailLabel() const { return m_detail; }
  QPushButton* pauseButton() const { return m_pause; }
  QPushButton* resumeButton() const { return m_resume; }
  QPushButton* stopButton() const { return m_stop; }

 signals:
  void pauseRequested();
  void resumeRequested();
  void stopRequested();

 private:
  void setProgress(int64_t step, double tokens_per_s, double elapsed_s);
  void showStatus();

  qint64 m_run_id = -1;
  RunStatus m_status = RunStatus::Stopped;
  QString m_source;
  int64_t m_total = 0;
  int64_t m_first_step = 0;
  int64_t m_step = 0;
  bool m_preparing = false;

  QLabel* m_title = nullptr;
  QLabel* m_status_label = nullptr;
  QLabel* m_detail = nullptr;
  QProgressBar* m_progress = nullptr;
  QLabel* m_rate = nullptr;
  QLabel* m_message = nullptr;
  QPushButton* m_pause = nullptr;
  QPushButton* m_resume = nullptr;
  QPushButton* m_stop = nullptr;
  widgets::TrainingPlots* m_plots = nullptr;
};

}  // namespace mola::app
