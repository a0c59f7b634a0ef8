// SPDX-License-Identifier: GPL-3.0-or-later
// ExpertHeatmap: expert utilisation as a layers x experts colour map; cells an allocation does not
// have stay empty, never zero.
#pragma once

#include <qcustomplot.h>
#include <optional>

#include "adapters/allocation.h"
#include "adapters/router_stats.h"

namespace mola::widgets {

class ExpertHeatmap : public QCustomPlot {
  Q_OBJECT

 public:
  enum class Value {
    TokenFraction,    // f_i, share of the top-K selections (sums to 1 per layer)
    RelativeLoad,     // N_j * f_i: 1 is the fair share whatever the layer's width
    MeanProbability,  // P_i, mean router probability
  };

  explicit ExpertHeatmap(QWidget* parent = nullptr);

  // N_j per layer: rows are layers (layer 1 at the bottom), columns experts 1..max N_j. Cells
  // with expert >= N_j are NaN (transparent); layers with N_j = 1 have no router and are labelled.
  void setAllocation(const Allocation& allocation);
  const Allocation& allocation() const { return m_allocation; }
  // Shows one snapshot (the last one, typically). Layers absent from it stay empty. Statistics
  // that do not fit the allocation are left out and reported by warning().
  void setSnapshot(const RouterStatsSnapshot& snapshot);
  void clearSnapshot();
  void setValueKind(Value kind);
  Value valueKind() const { return m_kind; }

  // A fixed colour range, so several heatmaps share one scale. setAutoColorRange() goes back to
  // [0, largest value shown].
  void setColorRange(double lo, double hi);
  void setAutoColorRange();
  QCPRange colorRange() const;
  // Smallest and largest finite cell, if any.
  std::optional<QCPRange> dataRange() const;

  void setTitle(const QString& title, const QColor& colour = QColor(0x20, 0x20, 0x20));
  void setColorScaleVisible(bool visible);

  // The value drawn for 0-based `layer` and `expert` (NaN for an empty cell), read back from the
  // colour map.
  double cellValue(int layer, int expert) const;
  QCPColorMap* colorMap() const { return m_map; }
  QCPColorScale* colorScale() const { return m_scale; }
  // What the last snapshot had that the allocation does not (one line per problem), or empty.
  QString warning() const { return m_warning; }
  static QString valueLabel(Value kind);
  // The colour scale's label for a MOELoRA snapshot (one with tasks): the gates' weights.
  static QString taskWeightLabel(Value kind);

 private:
  void rebuild();
  void rebuildLayerItems(const Allocation& alloc);
  void fitView();
  Allocation effectiveAllocation() const;

  Allocation m_allocation;
  std::optional<RouterStatsSnapshot> m_snapshot;
  Value m_kind = Value::TokenFraction;
  std::optional<QCPRange> m_fixed_range;
  QString m_warning;
  QCPColorMap* m_map;
  QCPColorScale* m_scale;
  QCPMarginGroup* m_margins;
  QCPTextElement* m_title = nullptr;
  QCPItemText* m_placeholder;
  QCPItemText* m_warning_text;
  QCPItemText* m_step_text;
  QList<QCPAbstractItem*> m_layer_items;  // outlines and "no router" labels of m_items_for
  std::optional<Allocation> m_items_for;
};

}  // namespace mola::widgets
