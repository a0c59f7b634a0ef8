// SPDX-License-Identifier: GPL-3.0-or-later
// Helpers of the window tests: the browser's rows, message boxes, time limits.
#pragma once

#include <QApplication>
#include <QMessageBox>
#include <QStringList>

#include "main_window.h"
#include "runs_browser.h"
#include "runs_table_model.h"
#include "store/run_store.h"

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

}  // namespace mola::test
