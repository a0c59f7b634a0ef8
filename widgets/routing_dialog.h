// SPDX-License-Identifier: GPL-3.0-or-later
// RoutingDialog: a text, and where each of its tokens went in a run's layers, optionally beside a
// second run traced with the same text (torch-free; the window traces it with `mola route` and
// hands the results back).
#pragma once

#include <QDialog>
#include <QList>
#include <QPair>
#include <QString>
#include <array>

#include "eval/token_routing.h"

class QComboBox;
class QLabel;
class QPlainTextEdit;
class QPushButton;
class QWidget;

namespace mola::widgets {

class TokenRoutingMap;

class RoutingDialog : public QDialog {
  Q_OBJECT

 public:
  explicit RoutingDialog(QWidget* parent = nullptr);

  // The run traced ("run #3 (stories260k-square)"), and the text to start from; clears the maps
  // and the compared run.
  void setRun(qint64 id, const QString& name, const QString& text);
  qint64 run() const { return m_columns[0].id; }
  QString text() const;

  // The runs that can be traced beside it (id, "run #4 (name)"), in the Compare with: box; the
  // traced run itself is left out.
  void setCandidates(const QList<QPair<qint64, QString>>& runs);
  // Shows run `id` (one of the candidates; -1 for none) beside the first. Once the first run has
  // a trace, the text goes through the new one at once. False when `id` is no candidate.
  bool setCompared(qint64 id);
  qint64 comparedRun() const { return m_columns[1].id; }

  // The trace of the text through `run` (its maps show it), or why there is none; the Trace
  // button comes back once every run shown has answered. Without a run: the first.
  void showRouting(const TokenRouting& routing) { showRouting(run(), routing); }
  void showRouting(qint64 run, const TokenRouting& routing);
  void showFailure(const QString& why) { showFailure(run(), why); }
  void showFailure(qint64 run, const QString& why);
  bool busy() const;
  const TokenRouting& routing() const { return m_columns[0].routing; }
  const TokenRouting& comparedRouting() const { return m_columns[1].routing; }

  TokenRoutingMap* layersMap() const { return m_columns[0].layers; }
  TokenRoutingMap* layerMap() const { return m_columns[0].layer; }
  TokenRoutingMap* comparedLayersMap() const { return m_columns[1].layers; }
  TokenRoutingMap* comparedLayerMap() const { return m_columns[1].layer; }
  QPlainTextEdit* textEdit() const { return m_text; }
  QPushButton* traceButton() const { return m_trace; }
  QComboBox* moduleBox() const { return m_module; }
  QComboBox* layerBox() const { return m_layer_box; }
  QComboBox* quantityBox() const { return m_quantity; }
  QComboBox* compareBox() const { return m_compare; }
  // What the dialog says under the maps: each run's line.
  QString status() const;

 signals:
  // Trace (or Ctrl+Enter) with a text: once per run shown.
  void traceRequested(qint64 run, const QString& text);
  // The run beside the first changed (-1: none any more).
  void comparedRunChanged(qint64 run);

 private:
  // One run's side: its header, its maps, and what it last said.
  struct Column {
    qint64 id = -1;
    QString name;
    TokenRouting routing;
    bool pending = false;
    QString status;
    bool failed = false;
    QWidget* box = nullptr;
    QLabel* header = nullptr;
    TokenRoutingMap* layers = nullptr;
    TokenRoutingMap* layer = nullptr;
  };

  QWidget* buildColumn(Column& column);
  QLayout* buildChoiceRow();
  Column* columnOf(qint64 run);
  void clearColumn(Column& column, const QString& prompt);
  void requestTrace();
  void requestTrace(Column& column);
  void onCompareChosen();
  void updateBusy();
  void updateStatus();
  void updateTitle();
  void redraw();
  void fillChoices();
  std::string chosenModule() const;

  std::array<Column, 2> m_columns;
  QPlainTextEdit* m_text;
  QPushButton* m_trace;
  QComboBox* m_compare;
  QComboBox* m_module;
  QComboBox* m_layer_box;
  QComboBox* m_quantity;
  QLabel* m_status;
};

}  // namespace mola::widgets
