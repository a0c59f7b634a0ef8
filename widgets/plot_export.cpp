// SPDX-License-Identifier: GPL-3.0-or-later
// PlotExport: shared plot look, export to PNG/PDF, hover read-out and range interactions.
#include "plot_export.h"

#include "export_folder.h"

#include <qcustomplot.h>
#include <QContextMenuEvent>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QGridLayout>
#include <QMenu>
#include <QMessageBox>
#include <QMouseEvent>
#include <QPointer>
#include <QRegularExpression>
#include <QToolTip>
#include <QVBoxLayout>
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <memory>

#include "theme.h"

namespace mola::widgets {
namespace {

constexpr char kHelperName[] = "mola_plot_export";
constexpr double kHoverRadius = 24.0;  // px

// Linear interpolation over equally spaced colour stops, t in [0, 1].
template <size_t N>
QColor rampColor(const std::array<QRgb, N>& stops, double t) {
  t = std::clamp(t, 0.0, 1.0) * double(N - 1);
  const size_t i = std::min(size_t(t), N - 2);
  const double f = t - double(i);
  const QColor a(stops[i]), b(stops[i + 1]);
  return QColor::fromRgbF(float(a.redF() + f * (b.redF() - a.redF())),
                          float(a.greenF() + f * (b.greenF() - a.greenF())),
                          float(a.blueF() + f * (b.blueF() - a.blueF())));
}

constexpr std::array<QRgb, 9> kPlasma = {0x0d0887, 0x41049d, 0x6a00a8, 0x8f0da4, 0xb12a90,
                                         0xcc4778, 0xe16462, 0xf2844b, 0xfca636};
constexpr std::array<QRgb, 9> kViridis = {0x440154, 0x472d7b, 0x3b528b, 0x2c728e, 0x21918c,
                                          0x28ae80, 0x5ec962, 0xaadc32, 0xfde725};

QString formatValue(double v) {
  if (v == 0.0) return QStringLiteral("0");
  const double a = std::fabs(v);
  if (a >= 1e-3 && a < 1e5) return QString::number(v, 'f', a >= 100 ? 1 : a >= 1 ? 4 : 5);
  return QString::number(v, 'e', 3);
}

QString keyText(const QCPAxis* axis, double key) {
  // Category axes (benchmarks) read out their tick label, not the position.
  if (const auto text = axis->ticker().dynamicCast<QCPAxisTickerText>()) {
    const auto it = text->ticks().constFind(key);
    if (it != text->ticks().constEnd()) return it.value();
  }
  const QString label = axis->label().section(QLatin1Char(' '), 0, 0).toLower();
  const QString k = std::fabs(key - std::round(key)) < 1e-9
                        ? QString::number(qint64(std::llround(key)))
                        : QString::number(key, 'g', 6);
  return label.isEmpty() ? k : label + QLatin1Char(' ') + k;
}

}  // namespace

QColor runColor(int index) {
  static constexpr std::array<QRgb, 10> kTableau = {0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728,
                                                    0x9467bd, 0x8c564b, 0xe377c2, 0x7f7f7f,
                                                    0xbcbd22, 0x17becf};
  const int n = int(kTableau.size());
  return QColor(kTableau[size_t(((index % n) + n) % n)]);
}

QColor layerColor(int layer, int num_layers) {
  const double t = num_layers <= 1 ? 0.0 : double(layer) / double(num_layers - 1);
  return rampColor(kPlasma, t);
}

QCPColorGradient heatmapGradient() {
  QCPColorGradient g;
  g.clearColorStops();
  for (size_t i = 0; i < kViridis.size(); ++i)
    g.setColorStopAt(double(i) / double(kViridis.size() - 1), QColor(kViridis[i]));
  g.setNanHandling(QCPColorGradient::nhTransparent);
  g.setLevelCount(256);
  return g;
}

void applyPlotStyle(QCustomPlot* plot) {
  QFont font = plot->font();
  font.setPointSizeF(9);
  QFont small = font;
  small.setPointSizeF(8);
  plot->setNoAntialiasingOnDrag(true);
  for (QCPAxisRect* rect : plot->axisRects()) {
    for (QCPAxis* axis : rect->axes()) {
      axis->setLabelFont(font);
      axis->setTickLabelFont(small);
      axis->setTickLengthOut(3);
      axis->setTickLengthIn(0);
      axis->setSubTickLengthIn(0);
      axis->setSubTickLengthOut(0);
      axis->grid()->setZeroLinePen(Qt::NoPen);
      axis->grid()->setSubGridVisible(false);
      axis->setLabelPadding(3);
    }
  }
  plot->legend->setFont(small);
  restylePlot(plot);  // the colours, from the theme
  plot->legend->setIconSize(18, 9);
  plot->legend->setRowSpacing(0);
  plot->legend->setMargins(QMargins(5, 3, 5, 3));
  plot->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
  // Legend items clip at their own rect, which cuts off underscores ("arc_easy"); give every
  // item, including those added later, a little room below the text.
  QObject::connect(plot, &QCustomPlot::beforeReplot, plot, [plot] {
    for (int i = 0; i < plot->legend->itemCount(); ++i) {
      // A wrapped legend (the router entropy's, past 12 layers) has empty cells.
      QCPAbstractLegendItem* item = plot->legend->item(i);
      if (item && item->margins().bottom() < 2) item->setMargins(QMargins(0, 0, 0, 2));
    }
  });
}

QCPTextElement* addTitle(QCustomPlot* plot, const QString& text) {
  QFont font = plot->font();
  font.setPointSizeF(9.5);
  font.setBold(true);
  plot->plotLayout()->insertRow(0);
  auto* title = new QCPTextElement(plot, text, font);
  title->setTextColor(plotInk());
  title->setMargins(QMargins(0, 4, 0, 0));
  plot->plotLayout()->addElement(0, 0, title);
  return title;
}

CellMap addCellMap(QCustomPlot* plot, int row, const QString& name) {
  CellMap m;
  m.scale = new QCPColorScale(plot);
  plot->plotLayout()->addElement(row, 1, m.scale);
  m.scale->setType(QCPAxis::atRight);
  m.scale->setBarWidth(10);
  m.map = new QCPColorMap(plot->xAxis, plot->yAxis);
  m.map->setName(name);
  m.map->setColorScale(m.scale);
  m.map->setGradient(heatmapGradient());
  m.map->setInterpolate(false);
  m.map->setTightBoundary(false);
  applyPlotStyle(plot);
  m.margins = new QCPMarginGroup(plot);
  plot->axisRect()->setMarginGroup(QCP::msBottom | QCP::msTop, m.margins);
  m.scale->setMarginGroup(QCP::msBottom | QCP::msTop, m.margins);
  return m;
}

QCustomPlot* newPlot(const QString& title, const QString& x_label, const QString& y_label) {
  auto* plot = new QCustomPlot;
  applyPlotStyle(plot);
  addTitle(plot, title);
  plot->xAxis->setLabel(x_label);
  plot->yAxis->setLabel(y_label);
  plot->setMinimumSize(240, 130);
  PlotExport::install(plot);
  return plot;
}

QCPItemText* addPlaceholder(QCustomPlot* plot, const QString& text) {
  auto* item = new QCPItemText(plot);
  item->position->setType(QCPItemPosition::ptAxisRectRatio);
  item->position->setAxisRect(plot->axisRect());
  item->setClipToAxisRect(false);
  item->position->setCoords(0.5, 0.5);
  item->setPositionAlignment(Qt::AlignCenter);
  item->setText(text);
  QFont font = plot->font();
  font.setPointSizeF(9);
  font.setItalic(true);
  item->setFont(font);
  item->setColor(QColor(0x90, 0x90, 0x90));
  return item;
}

void layOutPlotPage(QWidget* page, QLayout* bar, QWidget* top_left, QWidget* top_right,
                    QWidget* bottom_left, QWidget* bottom_right) {
  auto* grid = new QGridLayout;
  grid->setSpacing(4);
  grid->addWidget(top_left, 0, 0);
  grid->addWidget(top_right, 0, 1);
  grid->addWidget(bottom_left, 1, 0);
  grid->addWidget(bottom_right, 1, 1);
  auto* layout = new QVBoxLayout(page);
  layout->setContentsMargins(4, 4, 4, 4);
  layout->addLayout(bar);
  layout->addLayout(grid, 1);
}

void rescaleWithMargin(QCustomPlot* plot) {
  plot->rescaleAxes(true);
  for (QCPAxisRect* rect : plot->axisRects()) {
    for (QCPAxis* axis : rect->axes(QCPAxis::atLeft | QCPAxis::atRight)) {
      if (axis->plottables().isEmpty()) continue;
      QCPRange r = axis->range();
      if (!std::isfinite(r.lower) || !std::isfinite(r.upper)) continue;
      if (axis->scaleType() == QCPAxis::stLogarithmic) {  // a margin by factors
        if (r.lower > 0) axis->setRange(r.lower / 1.15, r.upper * 1.15);
        continue;
      }
      const double size = r.size();
      const double pad = size > 1e-12 * std::max(1.0, std::fabs(r.center()))
                             ? 0.05 * size
                             : std::max(std::fabs(r.center()) * 0.05, 1e-6);
      axis->setRange(r.lower - pad, r.upper + pad);
    }
  }
}

QString fileSlug(const QString& text) {
  QString name = text.toLower();
  name.replace(QRegularExpression(QStringLiteral("[^a-z0-9._]+")), QStringLiteral("-"));
  return name.remove(QRegularExpression(QStringLiteral("^-+|-+$"))).left(120);
}

void linkStepAxes(const QList<QCustomPlot*>& plots) {
  auto busy = std::make_shared<bool>(false);  // one change at a time: no echo between plots
  for (QCustomPlot* plot : plots) {
    PlotExport* helper = PlotExport::install(plot);
    QObject::connect(plot->xAxis, qOverload<const QCPRange&>(&QCPAxis::rangeChanged), plot,
                     [plots, plot, helper, busy](const QCPRange& range) {
                       if (*busy || !helper->userRanged()) return;  // a live fit, not the user
                       *busy = true;
                       for (QCustomPlot* other : plots) {
                         if (other == plot) continue;
                         PlotExport::of(other)->setUserRanged();
                         other->xAxis->setRange(range);
                         other->replot(QCustomPlot::rpQueuedReplot);
                       }
                       *busy = false;
                     });
    QObject::connect(helper, &PlotExport::rescaled, plot, [plots, plot, busy] {
      if (*busy) return;
      *busy = true;
      for (QCustomPlot* other : plots)
        if (other != plot) PlotExport::of(other)->rescale();
      *busy = false;
    });
  }
}

void setLogValueAxis(QCustomPlot* plot, bool log) {
  QCPAxis* axis = plot->yAxis;
  if ((axis->scaleType() == QCPAxis::stLogarithmic) == log) return;
  axis->setScaleType(log ? QCPAxis::stLogarithmic : QCPAxis::stLinear);
  if (log) {
    auto ticker = QSharedPointer<QCPAxisTickerLog>::create();
    ticker->setSubTickCount(8);
    axis->setTicker(ticker);
    axis->setNumberFormat(QStringLiteral("gb"));
  } else {
    axis->setTicker(QSharedPointer<QCPAxisTicker>::create());
    axis->setNumberFormat(QStringLiteral("gbd"));
  }
}

PlotExport::PlotExport(QCustomPlot* plot) : QObject(plot), m_plot(plot) {
  setObjectName(QLatin1String(kHelperName));
  plot->setContextMenuPolicy(Qt::CustomContextMenu);
  plot->setMouseTracking(true);
  plot->installEventFilter(this);
  connect(plot, &QWidget::customContextMenuRequested, this, &PlotExport::showMenu);
  connect(plot, &QCustomPlot::mouseDoubleClick, this, [this](QMouseEvent*) { rescale(); });
}

PlotExport* PlotExport::install(QCustomPlot* plot) {
  if (PlotExport* existing = of(plot)) return existing;
  return new PlotExport(plot);
}

PlotExport* PlotExport::of(const QCustomPlot* plot) {
  return plot->findChild<PlotExport*>(QLatin1String(kHelperName), Qt::FindDirectChildrenOnly);
}

void PlotExport::rescale() {
  m_user_ranged = false;
  fit();
  m_plot->replot(QCustomPlot::rpQueuedReplot);
  emit rescaled();
}

QString PlotExport::defaultFileName(const QString& suffix) const {
  QString title;
  if (m_plot->plotLayout()->elementCount() > 0)
    if (auto* t = qobject_cast<QCPTextElement*>(m_plot->plotLayout()->elementAt(0)))
      title = t->text();
  const QString name = fileSlug(m_stem.isEmpty()  ? title
                                : title.isEmpty() ? m_stem
                                                  : m_stem + u'-' + title);
  return (name.isEmpty() ? QStringLiteral("plot") : name) + u'.' + suffix;
}

void PlotExport::fit() {
  if (m_rescale)
    m_rescale();
  else
    rescaleWithMargin(m_plot);
}

namespace {

// The data point nearest the mouse, within `best` pixels.
struct Hit {
  QCPAbstractPlottable* plottable = nullptr;
  double key = 0, value = 0;
  double distance = kHoverRadius;
  QString text;  // set by a colour map: its own wording
};

// Only the few points around the mouse's key can be nearest in x; check a window there.
void nearestOnGraph(QCPGraph* graph, QPointF pixel, Hit& hit) {
  const auto data = graph->data();
  if (data->isEmpty()) return;
  auto it = data->findBegin(graph->keyAxis()->pixelToCoord(pixel.x()), false);
  auto from = it - std::min<qsizetype>(3, it - data->constBegin());
  auto to = it + std::min<qsizetype>(4, data->constEnd() - it);
  for (auto d = from; d != to; ++d) {
    if (!std::isfinite(d->value)) continue;
    const QPointF at = graph->coordsToPixels(d->key, d->value);
    const double dist = std::hypot(at.x() - pixel.x(), at.y() - pixel.y());
    if (dist < hit.distance) hit = {graph, d->key, d->value, dist, QString()};
  }
}

void nearestOnBars(QCPBars* bars, QPointF pixel, Hit& hit) {
  QVariant details;
  const double dist = bars->selectTest(pixel, false, &details);
  if (dist < 0 || dist >= hit.distance) return;
  const QCPDataSelection sel = details.value<QCPDataSelection>();
  if (sel.isEmpty()) return;
  const auto d = bars->data()->at(sel.dataRange().begin());
  hit = {bars, d->key, d->value, dist, QString()};
}

// The cell under the mouse: "row, column: value".
void cellOfColorMap(QCPColorMap* map, QPointF pixel, Hit& hit) {
  double key = 0, value = 0;
  map->pixelsToCoords(pixel, key, value);
  if (!map->data()->keyRange().contains(key) && map->data()->keySize() > 1) return;
  int ki = 0, vi = 0;
  map->data()->coordToCell(key, value, &ki, &vi);
  if (ki < 0 || vi < 0 || ki >= map->data()->keySize() || vi >= map->data()->valueSize()) return;
  const double v = map->data()->cell(ki, vi);
  double ck = 0, cv = 0;
  map->data()->cellToCoord(ki, vi, &ck, &cv);
  if (std::fabs(map->valueAxis()->coordToPixel(cv) - pixel.y()) > kHoverRadius * 2) return;
  hit = {map, ck, v, 0,
         QStringLiteral("%1, %2: %3")
             .arg(keyText(map->valueAxis(), cv), keyText(map->keyAxis(), ck),
                  std::isfinite(v) ? formatValue(v) : QStringLiteral("no expert / no data"))};
}

}  // namespace

QString PlotExport::readoutAt(QPointF pixel) {
  Hit hit;
  for (int p = 0; p < m_plot->plottableCount(); ++p) {
    QCPAbstractPlottable* plottable = m_plot->plottable(p);
    if (!plottable->visible() || !plottable->keyAxis() || !plottable->valueAxis()) continue;
    if (auto* graph = qobject_cast<QCPGraph*>(plottable))
      nearestOnGraph(graph, pixel, hit);
    else if (auto* bars = qobject_cast<QCPBars*>(plottable))
      nearestOnBars(bars, pixel, hit);
    else if (auto* map = qobject_cast<QCPColorMap*>(plottable))
      cellOfColorMap(map, pixel, hit);
  }
  if (!m_tracer) {
    m_tracer = new QCPItemTracer(m_plot);
    m_tracer->setStyle(QCPItemTracer::tsCircle);
    m_tracer->setSize(8);
    m_tracer->setPen(QPen(plotInk(), 1.5));
    m_tracer->setBrush(QColor(128, 128, 128, 90));
    if (m_plot->layer(QStringLiteral("overlay"))) m_tracer->setLayer(QStringLiteral("overlay"));
  }
  const bool on_graph = qobject_cast<QCPGraph*>(hit.plottable) != nullptr;
  m_tracer->setVisible(on_graph);
  if (on_graph) {
    m_tracer->position->setAxes(hit.plottable->keyAxis(), hit.plottable->valueAxis());
    m_tracer->position->setCoords(hit.key, hit.value);
  }
  QString text = hit.text;
  if (hit.plottable && text.isEmpty()) {
    const QString name =
        hit.plottable->name().isEmpty() ? QStringLiteral("value") : hit.plottable->name();
    text = QStringLiteral("%1\n%2: %3")
               .arg(name, keyText(hit.plottable->keyAxis(), hit.key), formatValue(hit.value));
  }
  if (m_tracer->layer()) m_tracer->layer()->replot();
  return text;
}

bool PlotExport::eventFilter(QObject* watched, QEvent* event) {
  if (watched != m_plot) return false;
  switch (event->type()) {
    case QEvent::MouseMove: {
      auto* e = static_cast<QMouseEvent*>(event);
      if (e->buttons() & Qt::LeftButton) {
        m_user_ranged = true;
        break;
      }
      const QString text = readoutAt(e->position());
      if (text.isEmpty())
        QToolTip::hideText();
      else
        QToolTip::showText(e->globalPosition().toPoint() + QPoint(12, 12), text, m_plot);
      break;
    }
    case QEvent::Wheel:
      m_user_ranged = true;
      break;
    case QEvent::Leave:
      if (m_tracer && m_tracer->visible()) {
        m_tracer->setVisible(false);
        if (m_tracer->layer()) m_tracer->layer()->replot();
      }
      QToolTip::hideText();
      break;
    default:
      break;
  }
  return false;
}

void PlotExport::showMenu(const QPoint& pos) {
  QMenu menu(m_plot);
  QMenu* png = menu.addMenu(tr("Export PNG"));
  for (int scale : {1, 2, 4}) {
    const QString size =
        tr("%1 \u00d7 %2 px").arg(m_plot->width() * scale).arg(m_plot->height() * scale);
    png->addAction(scale == 1 ? tr("%1 (as on screen)...").arg(size)
                              : tr("%1 (%2\u00d7)...").arg(size).arg(scale),
                   this, [this, scale] { exportWithDialog(QStringLiteral("png"), scale); });
  }
  menu.addAction(tr("Export SVG..."), this, [this] { exportWithDialog(QStringLiteral("svg")); });
  menu.addAction(tr("Export PDF..."), this, [this] { exportWithDialog(QStringLiteral("pdf")); });
  menu.addAction(tr("Export data as CSV..."), this,
                 [this] { exportWithDialog(QStringLiteral("csv")); });
  menu.addSeparator();
  menu.addAction(tr("Rescale"), this, &PlotExport::rescale);
  menu.exec(m_plot->mapToGlobal(pos));
}

void PlotExport::exportWithDialog(const QString& suffix, double scale) {
  static const QMap<QString, QString> kFilters = {
      {QStringLiteral("png"), tr("PNG image (*.png)")},
      {QStringLiteral("pdf"), tr("PDF document (*.pdf)")},
      {QStringLiteral("svg"), tr("SVG drawing (*.svg)")},
      {QStringLiteral("csv"), tr("CSV data (*.csv)")}};
  const QString folder = exportFolder(QStringLiteral("plotExportFolder"));
  QString path = QFileDialog::getSaveFileName(m_plot, tr("Export plot"),
                                              QDir(folder).filePath(defaultFileName(suffix)),
                                              kFilters.value(suffix));
  if (path.isEmpty()) return;
  if (QFileInfo(path).suffix().isEmpty()) path += QLatin1Char('.') + suffix;
  rememberExportFolder(QStringLiteral("plotExportFolder"), path);
  QString error;
  if (!exportPlot(m_plot, path, &error, scale))
    QMessageBox::warning(m_plot, tr("Export failed"), error);
  else
    emit exported(path);
}

}  // namespace mola::widgets
