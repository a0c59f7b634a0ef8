// SPDX-License-Identifier: GPL-3.0-or-later
// TrainView layout, the progress read-out and the routing of points to the plots.
#include "train_view.h"

#include <QDateTime>
#include <QHBoxLayout>
#include <QLabel>
#include <QLocale>
#include <QProgressBar>
#include <QPushButton>
#include <QStyle>
#include <QVBoxLayout>
#include <cmath>
#include <map>

#include "runs_table_model.h"
#include "store/store_writer.h"
#include "text.h"
#include "theme.h"
#include "training_plots.h"

namespace mola::app {

namespace {

QString clockText(double seconds) {
  return QString::fromStdString(mola::clockText(seconds));
}

QString toneStyle(TrainView::Tone tone) {
  switch (tone) {
    case TrainView::Tone::Success:
      return widgets::successStyle();
    case TrainView::Tone::Warning:
      return widgets::warningStyle();
    case TrainView::Tone::Error:
      return widgets::errorStyle() + QStringLiteral(" font-weight: bold;");
    case TrainView::Tone::Info:
      break;
  }
  return QString();
}

QPushButton* controlButton(const QString& text, QStyle::StandardPixmap icon, QWidget* parent) {
  auto* b = new QPushButton(parent->style()->standardIcon(icon), text, parent);
  b->setMinimumWidth(96);
  return b;
}

}  // namespace

TrainView::TrainView(QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(8, 8, 8, 4);

  auto* head = new QHBoxLayout;
  m_title = new QLabel(this);
  m_title->setObjectName(QStringLiteral("runTitle"));
  m_title->setTextFormat(Qt::RichText);
  m_title->setTextInteractionFlags(Qt::TextSelectableByMouse);
  head->addWidget(m_title);
  m_status_label = new QLabel(this);
  m_status_label->setObjectName(QStringLiteral("runStatus"));
  head->addWidget(m_status_label);
  head->addStretch(1);
  m_pause = controlButton(tr("Pause"), QStyle::SP_MediaPause, this);
  m_resume = controlButton(tr("Resume"), QStyle::SP_MediaPlay, this);
  m_stop = controlButton(tr("Stop"), QStyle::SP_MediaStop, this);
  m_pause->setToolTip(tr("Pause after the current step; the run keeps its place"));
  m_stop->setToolTip(tr("End the run after the current step, with a checkpoint to resume from"));
  head->addWidget(m_pause);
  head->addWidget(m_resume);
  head->addWidget(m_stop);
  layout->addLayout(head);

  m_detail = new QLabel(this);
  m_detail->setObjectName(QStringLiteral("runDetail"));
  widgets::setDimText(m_detail);
  m_detail->setTextInteractionFlags(Qt::TextSelectableByMouse);
  layout->addWidget(m_detail);

  auto* progress_row = new QHBoxLayout;
  m_progress = new QProgressBar(this);
  m_progress->setObjectName(QStringLiteral("runProgress"));
  m_progress->setTextVisible(true);
  m_progress->setMinimumWidth(320);
  progress_row->addWidget(m_progress, 3);
  m_rate = new QLabel(this);
  m_rate->setObjectName(QStringLiteral("runRate"));
  m_rate->setMinimumWidth(300);
  progress_row->addWidget(m_rate, 2);
  layout->addLayout(progress_row);

  m_message = new QLabel(this);
  m_message->setObjectName(QStringLiteral("runMessage"));
  m_message->setWordWrap(true);
  m_message->setTextFormat(Qt::PlainText);
  m_message->setTextInteractionFlags(Qt::TextSelectableByMouse);
  layout->addWidget(m_message);

  m_plots = new widgets::TrainingPlots(this);
  layout->addWidget(m_plots, 1);

  connect(m_pause, &QPushButton::clicked, this, &TrainView::pauseRequested);
  connect(m_resume, &QPushButton::clicked, this, &TrainView::resumeRequested);
  connect(m_stop, &QPushButton::clicked, this, &TrainView::stopRequested);
  clearRun();
}

void TrainView::clearRun() {
  m_run_id = -1;
  m_total = 0;
  m_first_step = 0;
  m_step = 0;
  m_preparing = false;
  m_source.clear();
  m_plots->clear();
  m_title->setText(tr("<span style='font-size: 13pt; font-weight: bold;'>No run shown</span>"));
  m_status_label->clear();
  m_detail->setText(
      tr("Press Run in the Design view (Ctrl+R) to train the experiment here, or "
         "open a stored run in the Runs view (Ctrl+3)."));
  m_progress->setRange(0, 1);
  m_progress->setValue(0);
  m_progress->setFormat(tr("no run"));
  m_rate->clear();
  setMessage(QString());
  setControls(false, false, false, QString(), tr("No run is shown"));
}

void TrainView::showRun(const RunRecord& record, const Allocation& allocation,
                        int64_t total_steps) {
  if (record.id != m_run_id) {
    clearRun();
    m_run_id = record.id;
  }
  m_total = total_steps;
  m_plots->setAllocation(allocation);
  m_plots->setExportStem(
      QStringLiteral("%1-run%2").arg(QString::fromStdString(record.name)).arg(record.id));
  m_title->setText(QStringLiteral("<span style='font-size: 13pt; font-weight: bold;'>%1</span>"
                                  "&nbsp;<span style='color: %3;'>#%2</span>")
                       .arg(QString::fromStdString(record.name).toHtmlEscaped())
                       .arg(record.id)
                       .arg(palette().color(QPalette::PlaceholderText).name()));
  QStringList detail;
  detail << QString::fromStdString(record.model);
  if (!record.allocation.empty())
    detail << tr("experts per layer %1").arg(QString::fromStdString(record.allocation));
  else
    detail << tr("full fine-tuning");
  const QDateTime created =
      QDateTime::fromString(QString::fromStdString(record.created_at), Qt::ISODate);
  detail << tr("created %1")
                .arg(created.isValid()
                         ? created.toLocalTime().toString(QStringLiteral("yyyy-MM-dd HH:mm"))
                         : QString::fromStdString(record.created_at));
  m_detail->setText(detail.join(QStringLiteral("  \u00b7  ")));
  updateRecord(record);
  if (m_step == 0 && !m_preparing) {
    m_progress->setRange(0, std::max<int>(1, int(m_total)));
    m_progress->setValue(0);
    m_progress->setFormat(m_total > 0 ? tr("step 0 / %1").arg(m_total) : tr("no steps yet"));
  }
}

void TrainView::updateRecord(const RunRecord& record) {
  if (record.id != m_run_id) return;
  m_status = record.status;
  showStatus();
  if (!record.message.empty() && record.status != RunStatus::Running) {
    const Tone tone = record.status == RunStatus::Failed      ? Tone::Error
                      : record.status == RunStatus::Completed ? Tone::Success
                                                              : Tone::Warning;
    setMessage(QString::fromStdString(record.message), tone);
  }
  if (record.status != RunStatus::Running) stopPreparing();
}

void TrainView::showStatus() {
  const QColor colour = widgets::RunsTableModel::statusColour(m_status);
  QString text = widgets::RunsTableModel::statusText(m_status);
  if (!m_source.isEmpty()) text += QStringLiteral(" \u00b7 ") + m_source;
  m_status_label->setText(QStringLiteral("<span style='color: %1; font-weight: bold;'>"
                                         "\u25cf</span> %2")
                              .arg(colour.name(), text.toHtmlEscaped()));
}

void TrainView::setSource(const QString& text) {
  m_source = text;
  if (m_run_id > 0) showStatus();
}

void TrainView::showPreparing(const QString& what, int64_t step, int64_t total) {
  m_preparing = true;
  if (total > 0) {
    m_progress->setRange(0, int(total));
    m_progress->setValue(int(step));
    m_progress->setFormat(tr("%1 %2 / %3").arg(what).arg(step).arg(total));
  } else {
    m_progress->setRange(0, 0);  // Qt draws a moving busy bar
    m_progress->setFormat(what);
  }
  m_rate->setText(what);
}

void TrainView::stopPreparing() {
  if (!m_preparing) return;
  m_preparing = false;
  m_progress->setRange(0, std::max<int>(1, int(m_total)));
  m_progress->setValue(int(m_step));
  m_progress->setFormat(m_step > 0 ? tr("step %1").arg(m_step) : tr("not started"));
  m_rate->clear();
}

void TrainView::showStarted(const RunStarted& info) {
  m_preparing = false;
  m_total = info.total_steps;
  m_first_step = info.first_step;
  m_step = info.first_step;
  if (!info.experts_per_layer.empty()) m_plots->setAllocation(Allocation(info.experts_per_layer));
  const QLocale locale(QLocale::English);
  QStringList detail;
  detail << m_detail->text().section(QStringLiteral("  \u00b7  "), 0, 1);
  detail
      << tr("%1 trainable parameters").arg(locale.toString(qlonglong(info.trainable_parameters)));
  QString examples = tr("%1 examples").arg(locale.toString(qlonglong(info.train_examples)));
  if (info.truncated_examples > 0)
    examples += tr(" (%1 cut to the cutoff)").arg(info.truncated_examples);
  detail << examples << QString::fromStdString(info.device);
  m_detail->setText(detail.join(QStringLiteral("  \u00b7  ")));
  m_progress->setRange(0, std::max<int>(1, int(m_total)));
  setProgress(info.first_step, 0.0, 0.0);
  m_rate->setText(info.first_step > 0 ? tr("resumed at step %1").arg(info.first_step)
                                      : tr("first step running..."));
}

void TrainView::addStep(const StepMetrics& m) {
  if (m.total_steps > 0) m_total = m.total_steps;
  m_plots->appendMetrics(metricPointsOf(m));
  setProgress(m.step, m.tokens_per_s, m.elapsed_s);
}

void TrainView::addStoredMetrics(const std::vector<MetricPoint>& points) {
  if (points.empty()) return;
  m_plots->appendMetrics(points);
  // The progress read-out takes the last step's rate and clock.
  int64_t last = -1;
  std::map<std::string, double> latest;
  for (const MetricPoint& p : points) {
    if (p.step > last) {
      last = p.step;
      latest.clear();
    }
    if (p.step == last) latest[p.name] = p.value;
  }
  setProgress(last, latest.count("tokens_per_s") ? latest["tokens_per_s"] : 0.0,
              latest.count("elapsed_s") ? latest["elapsed_s"] : 0.0);
}

void TrainView::addRouterStats(const RouterStatsSnapshot& snapshot) {
  m_plots->appendRouterStats(snapshot);
}

void TrainView::addScore(const EvalScore& score) {
  m_plots->appendEval(score);
}

void TrainView::setProgress(int64_t step, double tokens_per_s, double elapsed_s) {
  m_preparing = false;
  m_step = step;
  const QLocale locale(QLocale::English);
  if (m_total > 0) {
    m_progress->setRange(0, int(m_total));
    m_progress->setValue(int(std::min(step, m_total)));
    m_progress->setFormat(tr("step %1 / %2").arg(step).arg(m_total));
  } else {
    m_progress->setRange(0, std::max<int>(1, int(step)));
    m_progress->setValue(int(step));
    m_progress->setFormat(tr("step %1").arg(step));
  }
  QStringList parts;
  if (tokens_per_s > 0) parts << tr("%1 tokens/s").arg(locale.toString(tokens_per_s, 'f', 0));
  if (elapsed_s > 0) parts << tr("%1 elapsed").arg(clockText(elapsed_s));
  const double done = double(step - m_first_step);
  if (m_total > 0 && step < m_total && done > 0 && elapsed_s > 0 && m_status == RunStatus::Running)
    parts << tr("ETA %1").arg(clockText(elapsed_s / done * double(m_total - step)));
  m_rate->setText(parts.join(QStringLiteral("  \u00b7  ")));
}

void TrainView::setMessage(const QString& text, Tone tone) {
  m_message->setText(text);
  m_message->setStyleSheet(toneStyle(tone));
  m_message->setVisible(!text.isEmpty());
}

QString TrainView::message() const {
  return m_message->text();
}

void TrainView::setControls(bool can_pause, bool can_resume, bool can_stop,
                            const QString& resume_tip, const QString& why_not) {
  m_pause->setEnabled(can_pause);
  m_resume->setEnabled(can_resume);
  m_stop->setEnabled(can_stop);
  m_resume->setToolTip(can_resume ? resume_tip : why_not);
  m_pause->setToolTip(can_pause ? tr("Pause after the current step; the run keeps its place")
                                : why_not);
  m_stop->setToolTip(can_stop ? tr("End the run after the current step, with a checkpoint to "
                                   "resume from")
                              : why_not);
}

}  // namespace mola::app
