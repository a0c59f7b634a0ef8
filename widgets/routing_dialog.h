// SPDX-License-Identifier: GPL-3.0-or-later
// RoutingDialog: a text, and where each of its tokens went in a run's layers (torch-free; the
// window traces it with `mola route` and hands the result back).
#pragma once

#include <QDialog>
#include <QString>

#include "eval/token_routing.h"

class QComboBox;
class QLabel;
class QPlainTextEdit;
class QPushButton;

namespace mola::widgets {

class TokenRoutingMap;

class RoutingDialog : public QDialog {
  Q_OBJECT

 public:
  explicit RoutingDialog(QWidget* parent = nullptr);

  // The run traced ("run #3 (stories260k-square)"), and the text to start from; clears the maps.
  void setRun(qint64 id, const QString& name, const QString& text);
  qint64 run() const { return m_run; }
  QString text() const;

  // The trace of the text (the maps show it), or why there is none; the Trace button comes back.
  void showRouting(const TokenRouting& routing);
  void showFailure(const QString& why);
  void setBusy(bool busy);
  const TokenRouting& routing() const { return m_routing; }

  TokenRoutingMap* layersMap() const { return m_layers; }
  TokenRoutingMap* layerMap() const { return m_layer; }
  QPlainTextEdit* textEdit() const { return m_text; }
  QPushButton* traceButton() const { return m_trace; }
  QComboBox* moduleBox() const { return m_module; }
  QComboBox* layerBox() const { return m_layer_box; }
  QComboBox* quantityBox() const { return m_quantity; }
  QString status() const;

 signals:
  // Trace (or Ctrl+Enter) with a text.
  void traceRequested(qint64 run, const QString& text);

 private:
  void requestTrace();
  void redraw();
  void fillChoices();
  std::string chosenModule() const;

  qint64 m_run = -1;
  TokenRouting m_routing;
  QPlainTextEdit* m_text;
  QPushButton* m_trace;
  QComboBox* m_module;
  QComboBox* m_layer_box;
  QComboBox* m_quantity;
  QLabel* m_status;
  TokenRoutingMap* m_layers;
  TokenRoutingMap* m_layer;
};

}  // namespace mola::widgets
