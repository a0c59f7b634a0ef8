// SPDX-License-Identifier: GPL-3.0-or-later
// LayerDiagram painting and its mouse, wheel and keyboard editing.
#include "layer_diagram.h"

#include <QFocusEvent>
#include <QKeyEvent>
#include <QMouseEvent>
#include <QPainter>
#include <QPainterPath>
#include <QWheelEvent>
#include <algorithm>
#include <cmath>

namespace mola::widgets {

namespace {

constexpr double kAxisHeight = 20;
constexpr double kCountWidth = 34;
constexpr int kDragThreshold = 3;  // px before a press becomes a drag
constexpr int kWheelStep = 120;    // one notch, in eighths of a degree

const QColor kWarning(0xd9, 0x48, 0x01);
const QColor kWarningBackground(0xfd, 0xe6, 0xd4);

std::vector<int> range(int a, int b) {
  std::vector<int> out;
  for (int j = std::min(a, b); j <= std::max(a, b); ++j) out.push_back(j);
  return out;
}

}  // namespace

LayerDiagram::LayerDiagram(QWidget* parent) : QWidget(parent) {
  setFocusPolicy(Qt::StrongFocus);
  setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
  setAccessibleName(tr("Layer diagram: experts per decoder layer"));
  setToolTip(
      tr("Drag a row to set its experts; drag across rows to set them all. Click selects, "
         "Shift/Ctrl-click extends. Wheel: \u00b11. Keys: Up/Down, Left/Right or -/+, digits, "
         "Ctrl+A."));
  updateAccessibleDescription();
}

void LayerDiagram::setCounts(const std::vector<int>& counts) {
  if (counts.size() != m_counts.size()) {
    m_selection.clear();
    m_current = m_anchor = 0;
    m_dragging = false;
    m_press_layer = -1;
  }
  m_counts = counts;
  m_shown = counts;
  updateAccessibleDescription();
  update();
}

void LayerDiagram::setMaxExperts(int experts) {
  m_max_experts = std::max(1, experts);
  update();
}

void LayerDiagram::setTopK(int top_k) {
  m_top_k = std::max(1, top_k);
  update();
}

int LayerDiagram::scaleMax() const {
  int largest = m_max_experts;
  // The committed counts, not the drag's proposal: the track must not rescale under the cursor.
  for (int n : m_counts) largest = std::max(largest, n);
  return largest;
}

void LayerDiagram::setSelection(const std::set<int>& layers) {
  m_selection.clear();
  for (int j : layers)
    if (j >= 0 && j < int(m_counts.size())) m_selection.insert(j);
  if (!m_selection.empty()) m_current = m_anchor = *m_selection.begin();
  emit selectionChanged();
  update();
}

LayerDiagram::Margins LayerDiagram::margins() const {
  const QFontMetrics fm(font());
  const double label = fm.horizontalAdvance(QStringLiteral("L%1").arg(m_counts.size())) + 14;
  return {std::max(label, 36.0), kCountWidth, 6, kAxisHeight};
}

double LayerDiagram::rowHeight() const {
  const Margins m = margins();
  const int n = std::max<int>(1, int(m_counts.size()));
  return std::max(1.0, (height() - m.top - m.bottom) / n);
}

QRectF LayerDiagram::rowRect(int layer) const {
  const int n = int(m_counts.size());
  if (layer < 0 || layer >= n) return {};
  const Margins m = margins();
  const double h = rowHeight();
  const double top = m.top + (n - 1 - layer) * h;
  return {m.left, top, std::max(1.0, width() - m.left - m.right), h};
}

int LayerDiagram::layerAt(double y) const {
  const int n = int(m_counts.size());
  if (n == 0) return -1;
  const double from_top = y - margins().top;
  if (from_top < 0) return -1;
  const int row = int(std::floor(from_top / rowHeight()));
  if (row >= n) return -1;
  return n - 1 - row;
}

int LayerDiagram::expertsAt(double x) const {
  const QRectF track = rowRect(0);
  if (track.isNull()) return minEditExperts();
  const double block = track.width() / scaleMax();
  const int n = int(std::ceil((x - track.left()) / block));
  return std::clamp(n, minEditExperts(), std::max(minEditExperts(), scaleMax()));
}

QColor LayerDiagram::blockColour(int experts) const {
  // ColorBrewer "Blues" from light to dark: more experts read as more weight.
  static const QColor kRamp[] = {QColor(0x9e, 0xca, 0xe1), QColor(0x6b, 0xae, 0xd6),
                                 QColor(0x42, 0x92, 0xc6), QColor(0x21, 0x71, 0xb5),
                                 QColor(0x08, 0x51, 0x9c), QColor(0x08, 0x30, 0x6b)};
  constexpr int kStops = int(std::size(kRamp));
  const double t = scaleMax() <= 1 ? 1.0 : double(experts - 1) / (scaleMax() - 1);
  const double pos = std::clamp(t, 0.0, 1.0) * (kStops - 1);
  const int i = std::min(kStops - 2, int(pos));
  const double f = pos - i;
  const QColor& a = kRamp[i];
  const QColor& b = kRamp[i + 1];
  return QColor::fromRgbF(float(a.redF() + (b.redF() - a.redF()) * f),
                          float(a.greenF() + (b.greenF() - a.greenF()) * f),
                          float(a.blueF() + (b.blueF() - a.blueF()) * f));
}

void LayerDiagram::paintEvent(QPaintEvent*) {
  QPainter p(this);
  p.setRenderHint(QPainter::Antialiasing, true);
  const QPalette& pal = palette();
  p.fillRect(rect(), pal.color(QPalette::Base));

  const Margins m = margins();
  const int scale = scaleMax();
  const double block_w = std::max(1.0, width() - m.left - m.right) / scale;

  // Faint guides every 4 experts make counts readable at a glance.
  p.setPen(QPen(pal.color(QPalette::Midlight), 1));
  for (int e = 4; e < scale; e += 4) {
    const double x = std::round(m.left + e * block_w) + 0.5;
    p.drawLine(QPointF(x, m.top), QPointF(x, height() - m.bottom));
  }

  QFont label_font = font();
  label_font.setPixelSize(int(std::clamp(rowHeight() * 0.7, 8.0, 13.0)));
  p.setFont(label_font);
  // Label every k-th row when rows are thinner than the text.
  const int every =
      std::max(1, int(std::ceil((QFontMetrics(label_font).height() - 1) / rowHeight())));
  for (int j = 0; j < int(m_shown.size()); ++j)
    paintRow(p, j, block_w, j % every == 0 || j == int(m_shown.size()) - 1);
  paintExpertAxis(p, block_w);

  // The focus frame: a keyboard user must see where keys go.
  p.setBrush(Qt::NoBrush);
  p.setPen(QPen(hasFocus() ? pal.color(QPalette::Highlight) : pal.color(QPalette::Mid),
                hasFocus() ? 2 : 1));
  p.drawRect(QRectF(rect()).adjusted(0.5, 0.5, -0.5, -0.5));
  if (hasFocus()) p.drawRect(QRectF(rect()).adjusted(1, 1, -1, -1));
}

// Layer j's row: its background (selected, short of top-K), its expert blocks, its label and
// count (always on a labelled, selected or short row) and the keyboard cursor.
void LayerDiagram::paintRow(QPainter& p, int j, double block_w, bool labelled) {
  const QPalette& pal = palette();
  const Margins m = margins();
  const double row_h = rowHeight();
  const int scale = scaleMax();
  const QFont label_font = p.font();
  const QRectF row = rowRect(j);
  const int count = m_shown[size_t(j)];
  const bool short_of_k = count < m_top_k;
  const bool selected = m_selection.count(j) > 0;
  const QRectF full_row(0, row.top(), width(), row.height());
  if (selected) {
    QColor sel = pal.color(QPalette::Highlight);
    sel.setAlpha(hasFocus() ? 60 : 35);
    p.fillRect(full_row, sel);
  } else if (short_of_k) {
    p.fillRect(full_row, kWarningBackground);
  }

  const double gap_y = row_h >= 8 ? std::min(3.0, row_h * 0.18) : 0.0;
  const double gap_x = block_w >= 6 ? 2.0 : (block_w >= 3 ? 1.0 : 0.0);
  const QColor fill = short_of_k ? kWarning : blockColour(count);
  for (int e = 0; e < count && e < scale; ++e) {
    const double x0 = std::round(row.left() + e * block_w);
    const double x1 = std::round(row.left() + (e + 1) * block_w) - gap_x;
    const QRectF block(
        x0, std::round(row.top() + gap_y / 2), std::max(1.0, x1 - x0),
        std::max(1.0, std::round(row.bottom() - gap_y / 2) - std::round(row.top() + gap_y / 2)));
    const double radius = std::min({2.5, block.width() / 3, block.height() / 3});
    QPainterPath path;
    path.addRoundedRect(block, radius, radius);
    p.fillPath(path, fill);
  }

  if (labelled || selected || short_of_k) {
    const QColor text = short_of_k ? kWarning : pal.color(QPalette::Text);
    p.setPen(text);
    const QRectF label_rect(0, row.top(), m.left - 8, row.height());
    p.drawText(label_rect, Qt::AlignRight | Qt::AlignVCenter, QStringLiteral("L%1").arg(j + 1));
    const double end = row.left() + std::min(count, scale) * block_w + 4;
    QRectF count_rect(end, row.top(), m.right + 40, row.height());
    // A full row's count goes into the right margin; otherwise right after its last block.
    QFont bold = label_font;
    bold.setBold(true);
    p.setFont(bold);
    p.drawText(count_rect, Qt::AlignLeft | Qt::AlignVCenter, QString::number(count));
    p.setFont(label_font);
  }

  if (j == m_current && hasFocus()) {
    QPen pen(pal.color(QPalette::Highlight), 1, Qt::DashLine);
    p.setPen(pen);
    p.setBrush(Qt::NoBrush);
    p.drawRect(full_row.adjusted(1.5, 0.5, -1.5, -0.5));
  }
}

// The expert axis along the bottom.
void LayerDiagram::paintExpertAxis(QPainter& p, double block_w) {
  const Margins m = margins();
  const int scale = scaleMax();
  QFont axis_font = font();
  axis_font.setPixelSize(10);
  p.setFont(axis_font);
  p.setPen(palette().color(QPalette::PlaceholderText));
  const double axis_y = height() - m.bottom;
  const int tick_every = scale <= 16 ? (block_w >= 18 ? 1 : 4) : (scale <= 64 ? 8 : 32);
  for (int e = 1; e <= scale; ++e) {
    if (e != 1 && e % tick_every != 0) continue;
    const double cx = m.left + (e - 0.5) * block_w;
    p.drawText(QRectF(cx - 15, axis_y + 2, 30, m.bottom - 4), Qt::AlignCenter, QString::number(e));
  }
  p.drawText(QRectF(0, axis_y + 2, m.left - 8, m.bottom - 4), Qt::AlignRight | Qt::AlignVCenter,
             tr("N"));
}

std::vector<int> LayerDiagram::targetsFor(int layer) const {
  if (m_selection.count(layer)) return {m_selection.begin(), m_selection.end()};
  return {layer};
}

void LayerDiagram::propose(const std::vector<int>& after, const std::vector<int>& layers,
                           bool wheel) {
  if (after == m_counts) return;
  emit edited(m_counts, after, layers, wheel);
}

void LayerDiagram::step(const std::vector<int>& layers, int delta, bool wheel) {
  if (m_counts.empty()) return;
  std::vector<int> after = m_counts;
  bool held = false;
  for (int j : layers) {
    const int old = m_counts[size_t(j)];
    int want = old + delta;
    // Never push a row further outside the range, and never snap one that is already outside.
    const int lo = std::min(old, minEditExperts());
    const int hi = std::max(old, m_max_experts);
    if (want < lo) held = true;
    after[size_t(j)] = std::clamp(want, lo, hi);
  }
  propose(after, layers, wheel);
  // After the edit, whose undo command resets the designer's hint line.
  if (held) emit clamped(minEditExperts());
}

void LayerDiagram::setTo(const std::vector<int>& layers, int experts, bool wheel) {
  if (m_counts.empty()) return;
  const int value =
      std::clamp(experts, minEditExperts(), std::max(minEditExperts(), m_max_experts));
  std::vector<int> after = m_counts;
  for (int j : layers) after[size_t(j)] = value;
  propose(after, layers, wheel);
  if (experts < minEditExperts()) emit clamped(minEditExperts());
}

void LayerDiagram::mousePressEvent(QMouseEvent* event) {
  if (event->button() != Qt::LeftButton) return QWidget::mousePressEvent(event);
  const int layer = layerAt(event->position().y());
  if (layer < 0) return;
  setFocus(Qt::MouseFocusReason);
  m_press_layer = layer;
  m_press_pos = event->position();
  m_dragging = false;
  m_drag_clamped = false;
  const Qt::KeyboardModifiers mods = event->modifiers();
  if (mods & Qt::ShiftModifier) {
    m_selection.clear();
    for (int j : range(m_anchor, layer)) m_selection.insert(j);
  } else if (mods & Qt::ControlModifier) {
    if (!m_selection.erase(layer)) m_selection.insert(layer);
    m_anchor = layer;
  } else if (!m_selection.count(layer)) {
    // A press on a selected row keeps the selection so that a drag moves all of it.
    m_selection = {layer};
    m_anchor = layer;
  }
  m_current = layer;
  emit selectionChanged();
  update();
}

void LayerDiagram::mouseMoveEvent(QMouseEvent* event) {
  if (m_press_layer < 0 || m_counts.empty()) return;
  const QPointF pos = event->position();
  if (!m_dragging && (pos - m_press_pos).manhattanLength() < kDragThreshold) return;
  m_dragging = true;
  const int n = int(m_counts.size());
  // Past the top or bottom row the sweep stays at the last row.
  int layer = layerAt(pos.y());
  if (layer < 0) layer = pos.y() < margins().top ? n - 1 : 0;
  const QRectF track = rowRect(0);
  const double block = track.width() / scaleMax();
  const int wanted = int(std::ceil((pos.x() - track.left()) / block));
  m_drag_clamped = wanted < minEditExperts();
  const int value = expertsAt(pos.x());

  std::set<int> targets(m_selection.begin(), m_selection.end());
  if (!m_selection.count(m_press_layer)) targets = {m_press_layer};
  for (int j : range(m_press_layer, layer)) targets.insert(j);
  m_drag_layers.assign(targets.begin(), targets.end());
  m_shown = m_counts;
  for (int j : m_drag_layers) m_shown[size_t(j)] = value;
  m_current = layer;
  emit previewed(m_shown);
  update();
}

void LayerDiagram::mouseReleaseEvent(QMouseEvent* event) {
  if (event->button() != Qt::LeftButton || m_press_layer < 0) return;
  const int pressed = m_press_layer;
  m_press_layer = -1;
  if (m_dragging) {
    m_dragging = false;
    const std::vector<int> after = m_shown;
    m_shown = m_counts;
    propose(after, m_drag_layers, false);
    if (m_drag_clamped) emit clamped(minEditExperts());
    update();
    return;
  }
  if (!(event->modifiers() & (Qt::ShiftModifier | Qt::ControlModifier)) &&
      m_selection != std::set<int>{pressed}) {
    m_selection = {pressed};
    m_anchor = pressed;
    emit selectionChanged();
    update();
  }
}

void LayerDiagram::wheelEvent(QWheelEvent* event) {
  const int layer = layerAt(event->position().y());
  if (layer < 0 || m_dragging) return event->ignore();
  m_wheel_remainder += event->angleDelta().y();
  const int steps = m_wheel_remainder / kWheelStep;
  m_wheel_remainder -= steps * kWheelStep;
  event->accept();
  if (steps == 0) return;
  step(targetsFor(layer), steps, true);
}

void LayerDiagram::moveCurrent(int delta, bool extend) {
  const int n = int(m_counts.size());
  if (n == 0) return;
  m_current = std::clamp(m_current + delta, 0, n - 1);
  m_selection.clear();
  if (extend) {
    for (int j : range(m_anchor, m_current)) m_selection.insert(j);
  } else {
    m_selection.insert(m_current);
    m_anchor = m_current;
  }
  emit selectionChanged();
  update();
}

void LayerDiagram::keyPressEvent(QKeyEvent* event) {
  const int n = int(m_counts.size());
  if (n == 0) return QWidget::keyPressEvent(event);
  const bool shift = event->modifiers() & Qt::ShiftModifier;
  const std::vector<int> targets = m_selection.empty()
                                       ? std::vector<int>{m_current}
                                       : std::vector<int>(m_selection.begin(), m_selection.end());
  if (event->matches(QKeySequence::SelectAll)) {
    std::set<int> all;
    for (int j = 0; j < n; ++j) all.insert(j);
    m_selection = all;
    emit selectionChanged();
    update();
    return;
  }
  const int key = event->key();
  if (key != Qt::Key_0 && (key < Qt::Key_1 || key > Qt::Key_9)) m_digit_timer.invalidate();
  switch (key) {
    case Qt::Key_Up:  // up the stack = a higher layer
      return moveCurrent(+1, shift);
    case Qt::Key_Down:
      return moveCurrent(-1, shift);
    case Qt::Key_Home:
      return moveCurrent(-n, shift);
    case Qt::Key_End:
      return moveCurrent(+n, shift);
    case Qt::Key_Left:
    case Qt::Key_Minus:
      return step(targets, -1, false);
    case Qt::Key_Right:
    case Qt::Key_Plus:
    case Qt::Key_Equal:
      return step(targets, +1, false);
    case Qt::Key_Escape:
      if (m_dragging) {
        m_dragging = false;
        m_press_layer = -1;
        m_shown = m_counts;
        emit previewed(m_shown);
        update();
        return;
      }
      break;
    default:
      if (key >= Qt::Key_0 && key <= Qt::Key_9) {
        const int digit = key - Qt::Key_0;
        int value = digit;
        if (m_digit_timer.isValid() && m_digit_timer.elapsed() < 1000 &&
            m_last_digit_value * 10 + digit <= m_max_experts)
          value = m_last_digit_value * 10 + digit;
        m_last_digit_value = value;
        m_digit_timer.start();
        if (value == 0) return;
        return setTo(targets, value, false);
      }
  }
  QWidget::keyPressEvent(event);
}

void LayerDiagram::focusInEvent(QFocusEvent* event) {
  QWidget::focusInEvent(event);
  update();
}

void LayerDiagram::focusOutEvent(QFocusEvent* event) {
  QWidget::focusOutEvent(event);
  update();
}

void LayerDiagram::updateAccessibleDescription() {
  QStringList parts;
  for (int n : m_counts) parts << QString::number(n);
  setAccessibleDescription(tr("Experts per layer from layer 1 (bottom) up: %1. Up/Down choose a "
                              "layer, Left/Right change its experts, digits set them.")
                               .arg(parts.join(QStringLiteral(", "))));
}

}  // namespace mola::widgets
