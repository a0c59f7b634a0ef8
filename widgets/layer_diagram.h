// SPDX-License-Identifier: GPL-3.0-or-later
// LayerDiagram: one row of expert blocks per decoder layer (layer 1 at the bottom), edited by
// dragging, the wheel and the keyboard (torch-free).
#pragma once

#include <QElapsedTimer>
#include <QWidget>
#include <set>
#include <vector>

class QPainter;

namespace mola::widgets {

// The diagram only proposes edits: it emits edited() and waits for its owner to call setCounts()
// (the AllocationDesigner routes every edit through its undo stack). While a drag is in progress
// it shows the proposed counts and emits previewed().
class LayerDiagram : public QWidget {
  Q_OBJECT

 public:
  explicit LayerDiagram(QWidget* parent = nullptr);

  // Experts per layer, bottom layer first. A change of depth clears the selection.
  void setCounts(const std::vector<int>& counts);
  const std::vector<int>& counts() const { return m_counts; }
  // What is drawn: the counts, or the proposal of the drag in progress.
  const std::vector<int>& shownCounts() const { return m_shown; }

  // Edits never go above this (default 16); the track is as wide as max(this, largest count).
  void setMaxExperts(int experts);
  int maxExperts() const { return m_max_experts; }
  // Rows with fewer experts than top-K are drawn in the warning colour; edits stop at top-K,
  // except that top-K 1 allows a single expert (a plain LoRA layer).
  void setTopK(int top_k);
  int topK() const { return m_top_k; }
  int minEditExperts() const { return m_top_k; }
  // The number of expert slots across the track.
  int scaleMax() const;

  // Layer j's track (0 = bottom layer) in widget coordinates: from the left edge of expert 1 to
  // the right edge of expert scaleMax(), over the row's full height.
  QRectF rowRect(int layer) const;
  // The layer whose row contains y, or -1 outside the rows.
  int layerAt(double y) const;
  // The count whose block lies under x (blocks are 1-based), clamped to the edit range.
  int expertsAt(double x) const;

  // Selected layers (0-based) and the current (keyboard) layer.
  const std::set<int>& selection() const { return m_selection; }
  void setSelection(const std::set<int>& layers);
  int currentLayer() const { return m_current; }

  QSize sizeHint() const override { return {360, 420}; }
  QSize minimumSizeHint() const override { return {180, 160}; }

 signals:
  // A completed edit: `layers` are the rows it set (0-based). `wheel` marks one wheel step, so
  // that the owner may merge consecutive steps on the same rows.
  void edited(const std::vector<int>& before, const std::vector<int>& after,
              const std::vector<int>& layers, bool wheel);
  void previewed(const std::vector<int>& counts);
  // An edit asked for fewer experts than top-K allows and was held at `minimum`.
  void clamped(int minimum);
  void selectionChanged();

 protected:
  void paintEvent(QPaintEvent* event) override;
  void mousePressEvent(QMouseEvent* event) override;
  void mouseMoveEvent(QMouseEvent* event) override;
  void mouseReleaseEvent(QMouseEvent* event) override;
  void wheelEvent(QWheelEvent* event) override;
  void keyPressEvent(QKeyEvent* event) override;
  void focusInEvent(QFocusEvent* event) override;
  void focusOutEvent(QFocusEvent* event) override;

 private:
  void paintRow(QPainter& p, int j, double block_w, bool labelled);
  void paintExpertAxis(QPainter& p, double block_w);
  struct Margins {
    double left, right, top, bottom;
  };
  Margins margins() const;
  double rowHeight() const;
  // The rows an edit of `layer` applies to: the selection when it holds `layer`, else the layer.
  std::vector<int> targetsFor(int layer) const;
  // Adds `delta` to each target, held inside the edit range without pulling a row that is
  // already outside it further out or snapping it in.
  void step(const std::vector<int>& layers, int delta, bool wheel);
  void setTo(const std::vector<int>& layers, int experts, bool wheel);
  void propose(const std::vector<int>& after, const std::vector<int>& layers, bool wheel);
  void moveCurrent(int delta, bool extend);
  void updateAccessibleDescription();
  QColor blockColour(int experts) const;

  std::vector<int> m_counts;
  std::vector<int> m_shown;
  int m_max_experts = 16;
  int m_top_k = 1;

  std::set<int> m_selection;
  int m_current = 0;
  int m_anchor = 0;

  // Mouse state: the row pressed, where, and whether the press became a drag.
  int m_press_layer = -1;
  QPointF m_press_pos;
  bool m_dragging = false;
  bool m_drag_clamped = false;
  std::vector<int> m_drag_layers;
  int m_wheel_remainder = 0;

  // Two digits typed within a second make one count ("1", "2" -> 12).
  QElapsedTimer m_digit_timer;
  int m_last_digit_value = 0;
};

}  // namespace mola::widgets
