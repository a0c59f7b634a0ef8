// SPDX-License-Identifier: GPL-3.0-or-later
// TokenRoutingMap: a QCPColorMap of tokens x layers (the dominant expert, a qualitative gradient)
// or tokens x experts (a value, the heatmap gradient), with per-cell tooltips.
#include "token_routing_map.h"

#include <QToolTip>
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "plot_export.h"
#include "text.h"
#include "theme.h"

namespace mola::widgets {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// More cells than this and the numbers in them would be unreadable.
constexpr int kMaxLabelledCells = 600;
constexpr int kMaxLabelledTokens = 40;

// A token's text on an axis: control characters escaped, a space as a visible mark.
QString tokenLabel(const std::string& piece) {
  QString text = QString::fromStdString(printableText(piece, false));
  text.replace(QLatin1Char(' '), QChar(0x2423));  // OPEN BOX
  return text.isEmpty() ? QStringLiteral("\u2205") : text;
}

QString quantityName(RoutingQuantity q) {
  switch (q) {
    case RoutingQuantity::Gate:
      return TokenRoutingMap::tr("gate");
    case RoutingQuantity::Probability:
      return TokenRoutingMap::tr("router probability");
    case RoutingQuantity::Selection:
      return TokenRoutingMap::tr("share of top-K choices");
  }
  return {};
}

// Stops at i / (n - 1) with n levels: level i is expert i + 1's colour exactly.
QCPColorGradient expertGradient(int experts) {
  QCPColorGradient g;
  g.clearColorStops();
  for (int e = 0; e < experts; ++e)
    g.setColorStopAt(experts == 1 ? 0.0 : double(e) / double(experts - 1),
                     TokenRoutingMap::expertColor(e + 1));
  g.setLevelCount(std::max(2, experts));
  g.setColorInterpolation(QCPColorGradient::ciRGB);
  return g;
}

// "expert 2 0.61, expert 4 0.39": the experts with a non-zero value, largest first.
QString expertList(const std::vector<double>& row, int decimals) {
  std::vector<int> order;
  for (size_t e = 0; e < row.size(); ++e)
    if (row[e] > 0) order.push_back(int(e));
  std::sort(order.begin(), order.end(),
            [&](int a, int b) { return row[size_t(a)] > row[size_t(b)]; });
  QStringList parts;
  for (int e : order)
    parts << TokenRoutingMap::tr("expert %1 %2").arg(e + 1).arg(row[size_t(e)], 0, 'f', decimals);
  return parts.join(QStringLiteral(", "));
}

const LayerTokenRouting* findLayer(const TokenRouting& routing, int layer) {
  for (const LayerTokenRouting& l : routing.layers)
    if (l.layer == layer) return &l;
  return nullptr;
}

}  // namespace

TokenRoutingMap::TokenRoutingMap(QWidget* parent) : QCustomPlot(parent) {
  m_title = addTitle(this, tr("Token routing"));  // row 0; the axis rect moves to row 1
  const CellMap cells = addCellMap(this, 1, tr("token routing"));
  m_map = cells.map;
  m_scale = cells.scale;
  xAxis->setLabel(tr("token"));
  xAxis->grid()->setVisible(false);
  yAxis->grid()->setVisible(false);
  // A long text: drag and wheel-zoom along the tokens (double-click shows them all again).
  setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
  axisRect()->setRangeDrag(Qt::Horizontal);
  axisRect()->setRangeZoom(Qt::Horizontal);
  m_placeholder = addPlaceholder(this, tr("no routing traced yet"));
  setMinimumSize(320, 160);
  setMouseTracking(true);
  PlotExport::install(this);
  // The ranges are the table's cells: fitting to the data would only cut them.
  PlotExport::of(this)->setRescaler([this] {
    xAxis->setRange(-0.5, std::max(1, m_tokens) - 0.5);
    yAxis->setRange(-0.5, std::max(1, m_rows) - 0.5);
  });
  connect(this, &QCustomPlot::mouseMove, this, &TokenRoutingMap::onMouseMove);
  connect(this, &QCustomPlot::mousePress, this, &TokenRoutingMap::onMousePress);
  clearMap(tr("no routing traced yet"));
}

QColor TokenRoutingMap::expertColor(int e) {
  // Tableau 20: the ten hues, then their light variants.
  static constexpr std::array<QRgb, 20> kColors = {
      0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd, 0x8c564b, 0xe377c2,
      0x7f7f7f, 0xbcbd22, 0x17becf, 0xaec7e8, 0xffbb78, 0x98df8a, 0xff9896,
      0xc5b0d5, 0xc49c94, 0xf7b6d2, 0xc7c7c7, 0xdbdb8d, 0x9edae5};
  const int n = int(kColors.size());
  return QColor(kColors[size_t((((e - 1) % n) + n) % n)]);
}

void TokenRoutingMap::clearMap(const QString& text) {
  reset(0, 0);
  m_placeholder->setText(text);
  m_placeholder->setVisible(true);
  m_map->setVisible(false);
  m_scale->setVisible(false);
  m_title->setText(tr("Token routing"));
  replot(rpQueuedReplot);
}

void TokenRoutingMap::reset(int rows, int tokens) {
  for (QCPItemText* t : m_labels) removeItem(t);
  m_labels.clear();
  m_rows = rows;
  m_tokens = tokens;
  m_row_layers.clear();
  m_cell_text.assign(size_t(rows), std::vector<QString>(size_t(tokens)));
  if (rows > 0 && tokens > 0) {
    m_map->data()->setSize(tokens, rows);
    m_map->data()->setRange(QCPRange(0, tokens - 1), QCPRange(0, rows - 1));
  }
  m_map->setVisible(rows > 0 && tokens > 0);
  m_scale->setVisible(rows > 0 && tokens > 0);
  m_placeholder->setVisible(rows == 0 || tokens == 0);
  xAxis->setRange(-0.5, std::max(1, tokens) - 0.5);
  yAxis->setRange(-0.5, std::max(1, rows) - 0.5);
}

void TokenRoutingMap::setTokenAxis(const TokenRouting& routing) {
  auto ticker = QSharedPointer<QCPAxisTickerText>(new QCPAxisTickerText);
  // Every token named while they fit; beyond 60, every k-th.
  const int every = std::max(1, int(std::ceil(double(routing.tokens.size()) / 60.0)));
  for (size_t t = 0; t < routing.tokens.size(); t += size_t(every))
    ticker->addTick(double(t), tokenLabel(routing.tokens[t]));
  xAxis->setTicker(ticker);
  xAxis->setTickLabelRotation(routing.tokens.size() > 12 ? 90 : 0);
}

void TokenRoutingMap::setRowAxis(const QStringList& names, const QString& label) {
  auto ticker = QSharedPointer<QCPAxisTickerText>(new QCPAxisTickerText);
  const int every = std::max(1, int(std::ceil(double(names.size()) / 24.0)));
  for (int i = 0; i < names.size(); i += every) ticker->addTick(i, names[i]);
  yAxis->setTicker(ticker);
  yAxis->setLabel(label);
}

void TokenRoutingMap::addCellLabels(int decimals) {
  if (m_rows * m_tokens > kMaxLabelledCells || m_tokens > kMaxLabelledTokens) return;
  for (int r = 0; r < m_rows; ++r)
    for (int t = 0; t < m_tokens; ++t) {
      const double v = m_map->data()->cell(t, r);
      if (!std::isfinite(v) || v == 0) continue;  // a blank cell: not chosen
      auto* label = new QCPItemText(this);
      label->position->setCoords(t, r);
      label->setText(decimals == 0 ? QString::number(int(v)) : QString::number(v, 'f', decimals));
      const QColor under = m_map->gradient().color(v, m_map->dataRange());
      label->setColor(under.lightnessF() < 0.55 ? QColor(Qt::white) : QColor(0x20, 0x20, 0x20));
      QFont f = font();
      f.setPointSizeF(7);
      label->setFont(f);
      m_labels << label;
    }
}

void TokenRoutingMap::showLayers(const TokenRouting& routing, const std::string& module) {
  m_layers_view = true;
  reset(int(routing.layers.size()), int(routing.tokens.size()));
  if (m_rows == 0 || m_tokens == 0) {
    clearMap(tr("nothing routed"));
    return;
  }
  int experts = 2;
  QStringList names;
  for (int r = 0; r < m_rows; ++r) {
    const LayerTokenRouting& l = routing.layers[size_t(r)];
    experts = std::max(experts, l.experts);
    names << QStringLiteral("L%1").arg(l.layer + 1);
    m_row_layers.push_back(l.layer);
    if (!routesModule(l, module)) {  // another run's module that this layer does not route
      for (int t = 0; t < m_tokens; ++t) {
        m_map->data()->setCell(t, r, 0);
        m_cell_text[size_t(r)][size_t(t)] =
            tr("layer %1 routes no %2").arg(l.layer + 1).arg(QString::fromStdString(module));
      }
      continue;
    }
    const TokenExpertTable gates = pooledTable(l, RoutingQuantity::Gate, module);
    for (int t = 0; t < m_tokens; ++t) {
      const int e = dominantExpert(gates[size_t(t)]) + 1;
      m_map->data()->setCell(t, r, e);
      m_cell_text[size_t(r)][size_t(t)] = tr("'%1' (token %2), layer %3: %4")
                                              .arg(tokenLabel(routing.tokens[size_t(t)]))
                                              .arg(t + 1)
                                              .arg(l.layer + 1)
                                              .arg(expertList(gates[size_t(t)], 2));
    }
  }
  m_map->setGradient(expertGradient(experts));
  m_map->setDataRange(QCPRange(1, experts));
  m_scale->axis()->setLabel(tr("expert with the largest gate"));
  auto scale_ticks = QSharedPointer<QCPAxisTickerFixed>(new QCPAxisTickerFixed);
  scale_ticks->setTickStep(1.0);
  m_scale->axis()->setTicker(scale_ticks);
  setTokenAxis(routing);
  setRowAxis(names, tr("layer"));
  addCellLabels(0);
  m_title->setText(
      module.empty() ? tr("Expert with the largest gate, every module")
                     : tr("Expert with the largest gate, %1").arg(QString::fromStdString(module)));
  replot(rpQueuedReplot);
}

void TokenRoutingMap::showLayer(const TokenRouting& routing, int layer, RoutingQuantity quantity,
                                const std::string& module) {
  m_layers_view = false;
  const LayerTokenRouting* l = findLayer(routing, layer);
  if (!l || routing.tokens.empty()) {
    clearMap(tr("layer %1 routes nothing").arg(layer + 1));
    return;
  }
  if (!routesModule(*l, module)) {  // another run's module
    clearMap(tr("layer %1 routes no %2").arg(layer + 1).arg(QString::fromStdString(module)));
    return;
  }
  reset(l->experts, int(routing.tokens.size()));
  const TokenExpertTable table = pooledTable(*l, quantity, module);
  QStringList names;
  for (int e = 0; e < m_rows; ++e) {
    names << QString::number(e + 1);
    for (int t = 0; t < m_tokens; ++t) {
      const double v = table[size_t(t)][size_t(e)];
      m_map->data()->setCell(t, e, v);
      m_cell_text[size_t(e)][size_t(t)] = tr("'%1' (token %2), layer %3, expert %4: %5 %6")
                                              .arg(tokenLabel(routing.tokens[size_t(t)]))
                                              .arg(t + 1)
                                              .arg(layer + 1)
                                              .arg(e + 1)
                                              .arg(quantityName(quantity))
                                              .arg(v, 0, 'f', 3);
    }
  }
  // From 0 to the largest cell (a tenth at least): a mean over modules rarely nears 1.
  double top = 0.1;
  for (const std::vector<double>& row : table)
    for (double v : row) top = std::max(top, v);
  m_map->setGradient(heatmapGradient());
  m_map->setDataRange(QCPRange(0.0, std::ceil(top * 10.0) / 10.0));
  m_scale->axis()->setLabel(quantityName(quantity));
  m_scale->axis()->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
  setTokenAxis(routing);
  setRowAxis(names, tr("expert"));
  addCellLabels(2);
  const QString of = module.empty() ? tr("mean of %1 modules").arg(l->modules.size())
                                    : QString::fromStdString(module);
  m_title->setText(
      tr("Layer %1: %2 per token (%3)").arg(layer + 1).arg(quantityName(quantity), of));
  replot(rpQueuedReplot);
}

double TokenRoutingMap::valueTop() const {
  return m_layers_view || m_rows == 0 ? 0.0 : m_map->dataRange().upper;
}

void TokenRoutingMap::setValueTop(double top) {
  if (m_layers_view || m_rows == 0) return;
  m_map->setDataRange(QCPRange(0.0, top));
  replot(rpQueuedReplot);
}

double TokenRoutingMap::cellValue(int row, int token) const {
  if (row < 0 || row >= m_rows || token < 0 || token >= m_tokens) return kNaN;
  return m_map->data()->cell(token, row);
}

QString TokenRoutingMap::cellText(int row, int token) const {
  if (row < 0 || row >= m_rows || token < 0 || token >= m_tokens) return {};
  return m_cell_text[size_t(row)][size_t(token)];
}

int TokenRoutingMap::layerOfRow(int row) const {
  if (!m_layers_view || row < 0 || size_t(row) >= m_row_layers.size()) return -1;
  return m_row_layers[size_t(row)];
}

bool TokenRoutingMap::cellAt(const QPointF& pixel, int* row, int* token) const {
  if (!axisRect()->rect().contains(pixel.toPoint())) return false;
  *token = int(std::lround(xAxis->pixelToCoord(pixel.x())));
  *row = int(std::lround(yAxis->pixelToCoord(pixel.y())));
  return *row >= 0 && *row < m_rows && *token >= 0 && *token < m_tokens;
}

void TokenRoutingMap::onMouseMove(QMouseEvent* event) {
  int row = 0, token = 0;
  if (cellAt(event->position(), &row, &token))
    QToolTip::showText(event->globalPosition().toPoint(), cellText(row, token), this);
  else
    QToolTip::hideText();
}

void TokenRoutingMap::onMousePress(QMouseEvent* event) {
  int row = 0, token = 0;
  if (event->button() == Qt::LeftButton && cellAt(event->position(), &row, &token) &&
      layerOfRow(row) >= 0)
    emit layerClicked(layerOfRow(row));
}

}  // namespace mola::widgets
