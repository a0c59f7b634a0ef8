// SPDX-License-Identifier: GPL-3.0-or-later
// Helpers of the window tests: the browser's rows, message boxes, time limits, a trained run.
#pragma once

#include <QApplication>
#include <QDir>
#include <QFile>
#include <QMessageBox>
#include <QProcess>
#include <QStringList>

#include "experiment/experiment_config.h"
#include "main_window.h"
#include "runs_browser.h"
#include "runs_table_model.h"
#include "store/run_store.h"
#include "tiny_experiment.h"

namespace mola::test {

// A tiny run trained by `mola` or the window: seconds on 2 cores, minutes on a busy machine.
constexpr int kTrainTimeoutMs = 240000;

// The row of run `id` in the browser's table (a refresh may still be due).
inline int browserRow(app::MainWindow& w, qint64 id) {
  return w.runsBrowser()->model()->rowOf(id);
}

inline RunStatus browserStatus(app::MainWindow& w, qint64 id) {
  const int row = browserRow(w, id);
  return row < 0 ? RunStatus::Running : w.runsBrowser()->model()->rows()[size_t(row)].record.status;
}

inline QStringList messageBoxTexts(const app::MainWindow& w) {
  QStringList texts;
  for (const QMessageBox* box : w.findChildren<QMessageBox*>()) texts << box->text();
  return texts;
}

inline void closeMessageBoxes(app::MainWindow& w) {
  for (QMessageBox* box : w.findChildren<QMessageBox*>()) box->close();
  QApplication::processEvents();
}

// Trains the tiny experiment for 4 steps with the `mola` program at `mola` into `db` (run 1 of a
// fresh database), the experiment file written into `dir`, with `extra` arguments ("--set",
// "training.seed=5"). Empty on success, else what went wrong.
inline QString trainTinyRun(const QString& mola, const QString& dir, const QString& db,
                            const QStringList& extra = {}) {
  const QString experiment = QDir(dir).filePath(QStringLiteral("tiny.json"));
  QFile f(experiment);
  if (!f.open(QIODevice::WriteOnly)) return QStringLiteral("cannot write ") + experiment;
  f.write(QByteArray::fromStdString(experimentToJson(tinyExperiment("window-run", 4))));
  f.close();
  QProcess train;
  train.start(mola,
              QStringList{QStringLiteral("train"), experiment, QStringLiteral("--db"), db} + extra);
  if (!train.waitForFinished(kTrainTimeoutMs)) return QStringLiteral("mola train timed out");
  if (train.exitStatus() != QProcess::NormalExit || train.exitCode() != 0)
    return QString::fromLocal8Bit(train.readAllStandardError());
  return {};
}

}  // namespace mola::test
