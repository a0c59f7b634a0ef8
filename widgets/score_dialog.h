// SPDX-License-Identifier: GPL-3.0-or-later
// ScoreDialog: which benchmark (and protocol) to score a stored run on (torch-free).
#pragma once

#include <QDialog>
#include <QString>

#include "experiment/experiment_config.h"

class QComboBox;
class QDialogButtonBox;

namespace mola::widgets {

class DataSourceEditor;

struct ScoreRequest {
  DataSpec data;
  QString protocol;  // likelihood | generate; empty: as the run's training evaluated
};

class ScoreDialog : public QDialog {
  Q_OBJECT

 public:
  // `run` names the run in the title ("run 3 (stories260k-square)").
  explicit ScoreDialog(const QString& run, QWidget* parent = nullptr);

  ScoreRequest request() const;
  DataSourceEditor* dataEditor() const { return m_data; }
  QComboBox* protocolBox() const { return m_protocol; }

 private:
  void updateOk();

  DataSourceEditor* m_data = nullptr;
  QComboBox* m_protocol = nullptr;
  QDialogButtonBox* m_buttons = nullptr;
};

}  // namespace mola::widgets
