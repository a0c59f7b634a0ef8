// SPDX-License-Identifier: GPL-3.0-or-later
// PlotExport: the one look and the shared interactions of every workbench plot (export menu,
// hover read-out, drag/zoom, double-click rescale), plus the run and layer palettes.
#pragma once

#include <QColor>
#include <QObject>
#include <QPointF>
#include <QPointer>
#include <QString>
#include <functional>

class QCustomPlot;
class QLayout;
class QWidget;
class QCPItemTracer;
class QCPItemText;
class QCPColorGradient;
class QCPColorMap;
class QCPColorScale;
class QCPMarginGroup;
class QCPTextElement;

namespace mola::widgets {

// A qualitative palette (Tableau 10): run i has this colour in every plot of the workbench.
QColor runColor(int index);
// A sequential ramp for layers (plasma, cut before its pale end so that lines stay readable on
// white): layer 0 is dark blue, the top layer orange.
QColor layerColor(int layer, int num_layers);
// The heatmap gradient (viridis, 9 stops), with NaN cells transparent.
QCPColorGradient heatmapGradient();

// Fonts, grid, margins and background shared by every plot. Call once after creating the plot.
void applyPlotStyle(QCustomPlot* plot);
// A bold title row above the axis rect.
QCPTextElement* addTitle(QCustomPlot* plot, const QString& text);
// A colour map of cells on the plot's axis rect, in layout row `row`, with its colour scale (a
// 10 px bar) beside it: heatmapGradient, cells drawn whole and not interpolated, the map and the
// scale on one margin group so that they line up; then applyPlotStyle. For the heatmaps of
// experts, tasks and tokens.
struct CellMap {
  QCPColorMap* map = nullptr;
  QCPColorScale* scale = nullptr;
  QCPMarginGroup* margins = nullptr;
};
CellMap addCellMap(QCustomPlot* plot, int row, const QString& name);
// A new plot in the workbench's style: title, axis labels, a minimum size that lets four of
// them share a 1024 x 640 window, and PlotExport installed.
QCustomPlot* newPlot(const QString& title, const QString& x_label, const QString& y_label);
// A grey note in the middle of the axis rect ("no data yet"); hide it once data arrives.
QCPItemText* addPlaceholder(QCustomPlot* plot, const QString& text);
// Rescales every axis to its visible data with a 5% margin on the value axes, so curves never
// touch the frame; a flat series gets a range around its value instead of a zero-width one.
void rescaleWithMargin(QCustomPlot* plot);
// Lays out `page`: the control row `bar` above four plots in a 2 x 2 grid (row by row).
void layOutPlotPage(QWidget* page, QLayout* bar, QWidget* top_left, QWidget* top_right,
                    QWidget* bottom_left, QWidget* bottom_right);

// Writes the plot to `path`, the format chosen by its suffix (case-insensitive): .png at `scale`
// times the on-screen size, .pdf and .svg as vectors, .csv as its data (see plotCsv). On failure
// returns false and, when `error` is given, a message that names the file and the reason.
bool exportPlot(QCustomPlot* plot, const QString& path, QString* error = nullptr,
                double scale = 1.0);
// The data of every visible graph, bar chart and heatmap of the plot as CSV: a header
// "series,<x axis label>,<y axis label>" (",value" more with a heatmap: its cells), then one row
// per point; numbers read back exactly, gaps are empty fields.
QString plotCsv(QCustomPlot* plot);
// `text` as a file name every file system and shell takes as it is: lower case, runs of other
// characters as one '-', at most 120 characters ("MoLA 2/4/6/8" -> "mola-2-4-6-8").
QString fileSlug(const QString& text);
// One step axis for the plots of a view: dragging or zooming one moves the others the same way,
// and rescaling one (double-click) rescales them all.
void linkStepAxes(const QList<QCustomPlot*>& plots);
// The left value axis logarithmic (ticks at powers of ten) or linear; the caller rescales.
void setLogValueAxis(QCustomPlot* plot, bool log);

class PlotExport : public QObject {
  Q_OBJECT

 public:
  // Attaches to `plot` (which owns the helper): a context menu with "Export PNG...", "Export
  // PDF..." and "Rescale", a tracer with a tooltip on the nearest point of any graph or bar,
  // drag and wheel zoom, and double-click to rescale.
  static PlotExport* install(QCustomPlot* plot);
  // The helper installed on `plot`, or nullptr.
  static PlotExport* of(const QCustomPlot* plot);

  // What double-click and "Rescale" do; the default is rescaleWithMargin(). Plots with fixed
  // ranges (accuracy 0..1, a heatmap) set their own.
  void setRescaler(std::function<void()> rescale) { m_rescale = std::move(rescale); }
  // Applies the rescaler and replots; also ends the user's own range (userRanged() is false).
  void rescale();
  // The user's own range from now on (a linked plot was dragged or zoomed).
  void setUserRanged() { m_user_ranged = true; }
  // Names exported files: "<stem>-<plot title>.<suffix>" (e.g. the run's name and id).
  void setFileStem(const QString& stem) { m_stem = stem; }
  QString defaultFileName(const QString& suffix) const;
  // Applies the rescaler only (live plots call it before each throttled replot).
  void fit();
  // True once the user dragged or zoomed: live plots then stop following new data until the
  // next double-click or "Rescale".
  bool userRanged() const { return m_user_ranged; }

  // The read-out for a mouse position in plot pixels: "series\nstep: value" of the nearest data
  // point within 24 px, or an empty string. Also moves the tracer there.
  QString readoutAt(QPointF pixel);

 signals:
  void exported(const QString& path);
  // rescale() ran (a double-click or the menu).
  void rescaled();

 private:
  explicit PlotExport(QCustomPlot* plot);
  bool eventFilter(QObject* watched, QEvent* event) override;
  void showMenu(const QPoint& pos);
  void exportWithDialog(const QString& suffix, double scale = 1.0);

  QCustomPlot* m_plot;
  QPointer<QCPItemTracer> m_tracer;  // the plot owns it; it may be cleared with the items
  std::function<void()> m_rescale;
  bool m_user_ranged = false;
  QString m_stem;
};

}  // namespace mola::widgets
