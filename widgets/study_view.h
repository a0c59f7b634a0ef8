// SPDX-License-Identifier: GPL-3.0-or-later
// StudyView: one study at a glance: accuracy per variant with intervals across seeds (forest
// plot), each variant's mean expert utilisation, and the table `mola study show` prints, with
// exports as CSV, LaTeX and Markdown (torch-free; the data come from a provider).
#pragma once

#include <QStringList>
#include <QWidget>
#include <functional>
#include <optional>
#include <vector>

#include "store/run_store.h"
#include "study/study_report.h"

class QComboBox;
class QGridLayout;
class QHBoxLayout;
class QLabel;
class QScrollArea;
class QStackedWidget;
class QTableWidget;
class QToolButton;

namespace mola::widgets {

class ExpertHeatmap;
class StudyChart;

// What the view shows of one study.
struct StudyViewData {
  StudySummary summary;
  std::vector<VariantRouting> routing;  // per variant, in the summary's order
};

class StudyView : public QWidget {
  Q_OBJECT

 public:
  // The studies of the database; may throw (std::exception): the message is shown.
  using StudiesProvider = std::function<std::vector<StudyRecord>()>;
  // One study's data with `baseline` (empty: the study's own); may throw.
  using DataProvider = std::function<StudyViewData(qint64 study, const std::string& baseline)>;

  explicit StudyView(QWidget* parent = nullptr);

  void setProviders(StudiesProvider studies, DataProvider data);
  // Shows study `id` (when the provider lists it).
  bool selectStudy(qint64 id);
  qint64 currentStudy() const;
  // The data shown now (none before a study is shown).
  const std::optional<StudyViewData>& data() const { return m_data; }

  // Writes the table as CSV, LaTeX or Markdown (by `format`); false with `error` set on failure.
  bool exportTable(const QString& path, TableFormat format, QString* error = nullptr) const;

  StudyChart* chart() const { return m_chart; }
  QTableWidget* table() const { return m_table; }
  QComboBox* studyBox() const { return m_study; }
  QComboBox* baselineBox() const { return m_baseline; }
  QComboBox* metricBox() const { return m_metric; }
  const std::vector<ExpertHeatmap*>& heatmaps() const { return m_heatmaps; }
  // The line above the plots: runs done and waiting, the benchmark, how to read the figures; or
  // why there is nothing to show.
  QString statusLine() const;

 public slots:
  // Re-reads the studies and the shown study's data (keeps the selection).
  void refresh();

 private:
  QHBoxLayout* buildBar();
  void showData();
  void fillTable();
  void rebuildHeatmaps();
  void exportDialog(TableFormat format);

  StudiesProvider m_studies_provider;
  DataProvider m_data_provider;
  std::optional<StudyViewData> m_data;
  QString m_error;
  QComboBox* m_study;
  QComboBox* m_baseline;
  QComboBox* m_metric;
  QToolButton* m_export;
  QLabel* m_status;
  QStackedWidget* m_pages;  // 0: the hint when there is no study, 1: the study
  QLabel* m_hint;
  StudyChart* m_chart;
  QTableWidget* m_table;
  QScrollArea* m_heatmap_area;
  QGridLayout* m_heatmap_grid;
  std::vector<ExpertHeatmap*> m_heatmaps;
  QStringList m_heatmap_keys;  // the variants (and allocations) the heatmaps are for
  bool m_filling = false;      // the combo boxes are being refilled: their signals are ignored
};

}  // namespace mola::widgets
