// SPDX-License-Identifier: GPL-3.0-or-later
// TokenRoutingMap: where the tokens of one text went (token_routing.h). Layers view: a row per
// routing layer (layer 1 at the bottom), a column per token, each cell the colour and number of
// the expert with the largest gate. Layer view: one layer's experts as rows, each cell a value
// (gate, probability or selection share) on the heatmap scale.
#pragma once

#include <qcustomplot.h>

#include <string>

#include "eval/token_routing.h"

namespace mola::widgets {

class TokenRoutingMap : public QCustomPlot {
  Q_OBJECT

 public:
  explicit TokenRoutingMap(QWidget* parent = nullptr);

  // Every routing layer, pooled over its modules (or `module`'s alone).
  void showLayers(const TokenRouting& routing, const std::string& module = {});
  // Routing layer `layer` (0-based decoder layer) of `routing`: experts x tokens of `quantity`.
  // A layer the routing does not have shows a placeholder.
  void showLayer(const TokenRouting& routing, int layer, RoutingQuantity quantity,
                 const std::string& module = {});
  // Nothing shown; `text` in the middle.
  void clearMap(const QString& text);
  // The layer view's colour scale runs from 0 to this (else 0); another map's top can be set, so
  // that two maps side by side share one scale.
  double valueTop() const;
  void setValueTop(double top);

  // Rows (layers or experts) and columns (tokens) shown.
  int rowCount() const { return m_rows; }
  int tokenCount() const { return m_tokens; }
  // The cell drawn at `row` (0 = bottom) and `token`: the 1-based expert in the layers view, the
  // value in the layer view; NaN outside.
  double cellValue(int row, int token) const;
  // What the pointer over that cell says (the tooltip).
  QString cellText(int row, int token) const;
  // The 0-based decoder layer of a row of the layers view, -1 elsewhere.
  int layerOfRow(int row) const;
  // The colour of 1-based expert `e` in the layers view (a qualitative palette of 20).
  static QColor expertColor(int e);

 signals:
  // A click on a row of the layers view: its 0-based decoder layer.
  void layerClicked(int layer);

 private:
  void reset(int rows, int tokens);
  void setTokenAxis(const TokenRouting& routing);
  void setRowAxis(const QStringList& names, const QString& label);
  // Each cell's value written in it (blank for 0), while the cells are few enough to read.
  void addCellLabels(int decimals);
  void onMouseMove(QMouseEvent* event);
  void onMousePress(QMouseEvent* event);
  bool cellAt(const QPointF& pixel, int* row, int* token) const;

  QCPColorMap* m_map;
  QCPColorScale* m_scale;
  QCPTextElement* m_title;
  QCPItemText* m_placeholder;
  QList<QCPItemText*> m_labels;
  int m_rows = 0, m_tokens = 0;
  bool m_layers_view = true;
  std::vector<int> m_row_layers;  // the layers view's rows' decoder layers
  // Each cell's tooltip, [row][token].
  std::vector<std::vector<QString>> m_cell_text;
};

}  // namespace mola::widgets
