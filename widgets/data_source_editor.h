// SPDX-License-Identifier: GPL-3.0-or-later
// DataSourceEditor: one data set of an experiment (a benchmark file or a synthetic task), with
// what the importer makes of it shown beside it (torch-free).
#pragma once

#include <QWidget>

#include "experiment/experiment_config.h"

class QComboBox;
class QGridLayout;
class QLabel;
class QLineEdit;
class QPushButton;
class QSpinBox;

namespace mola::widgets {

class DataSourceEditor : public QWidget {
  Q_OBJECT

 public:
  // `what` names the data set in the file dialog's title ("training data").
  explicit DataSourceEditor(const QString& what, QWidget* parent = nullptr);

  void setSpec(const DataSpec& spec);
  DataSpec spec() const;

  // Reads the file (or draws the synthetic set) and shows its format and record count, or the
  // error in red. Runs when a file is chosen, Enter is pressed, or the format changes.
  void inspect();
  // The text the status line shows, and whether it is an error.
  QString status() const;
  bool statusIsError() const { return m_status_error; }

  QLineEdit* pathEdit() const { return m_path; }

 signals:
  void changed();

 private:
  // The constructor's parts: the path with Browse...; the synthetic tasks, format, split, limit
  // and the status line; what editing them does.
  void addPathRow(QGridLayout* grid);
  void addOptionsRow(QGridLayout* grid);
  void connectInputs();
  void browse();
  void setStatus(const QString& text, bool error);

  QString m_what;
  QLineEdit* m_path = nullptr;
  QPushButton* m_browse = nullptr;
  QComboBox* m_synthetic = nullptr;
  QComboBox* m_format = nullptr;
  QLineEdit* m_split = nullptr;
  QSpinBox* m_limit = nullptr;
  QLabel* m_status = nullptr;
  bool m_status_error = false;
};

}  // namespace mola::widgets
