// SPDX-License-Identifier: GPL-3.0-or-later
// TaskGateMap: MOELoRA's task gates of one layer as a tasks x experts colour map, each cell
// labelled with its weight (a row sums to 1).
#pragma once

#include <qcustomplot.h>

#include "adapters/router_stats.h"

namespace mola::widgets {

class TaskGateMap : public QCustomPlot {
  Q_OBJECT

 public:
  explicit TaskGateMap(QWidget* parent = nullptr);

  // Shows 0-based `layer` of the snapshot's task weights (RouterStatsSnapshot::task_weights);
  // a snapshot without them, or without that layer, shows a placeholder.
  void setSnapshot(const RouterStatsSnapshot& snapshot, int layer);
  // The weight drawn for 0-based `task` and `expert`, NaN outside the map.
  double cellValue(int task, int expert) const;
  int taskCount() const { return m_tasks; }
  int expertCount() const { return m_experts; }

 private:
  QCPColorMap* m_map;
  QCPColorScale* m_scale;
  QCPTextElement* m_title;
  QCPItemText* m_placeholder;
  QList<QCPItemText*> m_labels;
  int m_tasks = 0, m_experts = 0;
};

}  // namespace mola::widgets
