// SPDX-License-Identifier: GPL-3.0-or-later
// TaskGateMap: a QCPColorMap of task x expert weights with the values written in the cells.
#include "task_gate_map.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "plot_export.h"
#include "theme.h"

namespace mola::widgets {

TaskGateMap::TaskGateMap(QWidget* parent) : QCustomPlot(parent) {
  m_title = addTitle(this, tr("Task gates"));  // row 0; the axis rect moves to row 1
  const CellMap cells = addCellMap(this, 1, tr("task gate weights"));
  m_map = cells.map;
  m_scale = cells.scale;
  m_scale->axis()->setLabel(tr("weight"));
  m_map->setDataRange(QCPRange(0.0, 1.0));
  xAxis->setLabel(tr("expert"));
  yAxis->setLabel(tr("task"));
  xAxis->grid()->setVisible(false);
  yAxis->grid()->setVisible(false);
  auto ticker = QSharedPointer<QCPAxisTickerFixed>(new QCPAxisTickerFixed);
  ticker->setTickStep(1.0);
  ticker->setScaleStrategy(QCPAxisTickerFixed::ssMultiples);
  xAxis->setTicker(ticker);
  setInteractions(QCP::Interactions());
  m_placeholder = addPlaceholder(this, tr("no task gates yet"));
  setMinimumSize(240, 130);
  PlotExport::install(this);
  // The ranges are the table's cells: fitting to the data would only cut them.
  PlotExport::of(this)->setRescaler([this] {
    xAxis->setRange(0.5, std::max(1, m_experts) + 0.5);
    yAxis->setRange(-0.5, std::max(1, m_tasks) - 0.5);
  });
}

void TaskGateMap::setSnapshot(const RouterStatsSnapshot& snapshot, int layer) {
  for (QCPItemText* t : m_labels) removeItem(t);
  m_labels.clear();
  const bool has = layer >= 0 && size_t(layer) < snapshot.task_weights.size() &&
                   !snapshot.task_weights[size_t(layer)].empty();
  m_tasks = has ? int(snapshot.task_weights[size_t(layer)].size()) : 0;
  m_experts = 0;
  if (has)
    for (const auto& row : snapshot.task_weights[size_t(layer)])
      m_experts = std::max(m_experts, int(row.size()));
  m_placeholder->setVisible(!has || m_experts == 0);
  m_map->setVisible(has && m_experts > 0);
  if (!has || m_experts == 0) {
    m_title->setText(tr("Task gates"));
    replot(QCustomPlot::rpQueuedReplot);
    return;
  }
  const auto& table = snapshot.task_weights[size_t(layer)];
  m_map->data()->setSize(m_experts, m_tasks);
  m_map->data()->setRange(QCPRange(1, m_experts), QCPRange(0, m_tasks - 1));
  auto names = QSharedPointer<QCPAxisTickerText>(new QCPAxisTickerText);
  for (int t = 0; t < m_tasks; ++t) {
    const QString name = size_t(t) < snapshot.tasks.size()
                             ? QString::fromStdString(snapshot.tasks[size_t(t)])
                             : tr("task %1").arg(t + 1);
    names->addTick(t, name);
    for (int i = 0; i < m_experts; ++i) {
      const double w = size_t(i) < table[size_t(t)].size()
                           ? table[size_t(t)][size_t(i)]
                           : std::numeric_limits<double>::quiet_NaN();
      m_map->data()->setCell(i, t, w);
      if (!std::isfinite(w) || m_tasks * m_experts > 256) continue;  // too many to read
      auto* label = new QCPItemText(this);
      label->position->setCoords(i + 1, t);
      label->setText(QString::number(w, 'f', 2));
      label->setColor(w < 0.55 ? QColor(Qt::white) : QColor(0x20, 0x20, 0x20));  // on the gradient
      m_labels << label;
    }
  }
  yAxis->setTicker(names);
  xAxis->setRange(0.5, m_experts + 0.5);
  yAxis->setRange(-0.5, m_tasks - 0.5);
  m_title->setText(tr("Task gates, layer %1 (step %2)").arg(layer + 1).arg(snapshot.step));
  replot(QCustomPlot::rpQueuedReplot);
}

double TaskGateMap::cellValue(int task, int expert) const {
  if (task < 0 || task >= m_tasks || expert < 0 || expert >= m_experts)
    return std::numeric_limits<double>::quiet_NaN();
  return m_map->data()->cell(expert, task);
}

}  // namespace mola::widgets
