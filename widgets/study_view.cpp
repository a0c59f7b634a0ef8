// SPDX-License-Identifier: GPL-3.0-or-later
// StudyView: the study's forest plot, its variants' mean routing and its table.
#include "study_view.h"

#include <QComboBox>
#include <QDir>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QMenu>
#include <QSaveFile>
#include <QScrollArea>
#include <QSplitter>
#include <QStackedWidget>
#include <QTableWidget>
#include <QToolButton>
#include <QVBoxLayout>
#include <algorithm>

#include "allocation_delegate.h"
#include "expert_heatmap.h"
#include "export_folder.h"
#include "plot_export.h"
#include "runs_table_model.h"
#include "study_chart.h"
#include "theme.h"

namespace mola::widgets {

namespace {

QString qs(const std::string& s) {
  return QString::fromStdString(s);
}

Allocation parseStored(const std::string& list) {
  return Allocation::fromStoredList(list).value_or(Allocation());
}

const char* suffixOf(TableFormat format) {
  switch (format) {
    case TableFormat::Csv:
      return "csv";
    case TableFormat::Latex:
      return "tex";
    case TableFormat::Markdown:
      return "md";
    case TableFormat::Text:
      break;
  }
  return "txt";
}

}  // namespace

StudyView::StudyView(QWidget* parent) : QWidget(parent) {
  QHBoxLayout* bar = buildBar();
  m_status = new QLabel;
  m_status->setWordWrap(true);
  setDimText(m_status);

  m_hint = new QLabel(
      tr("<p><b>No studies in this database yet.</b></p><p>A study trains every allocation "
         "of a grid with several seeds and shows which one wins, with intervals across seeds:"
         "</p><p><tt>mola study run experiments/studies/quickstart-allocations.json --db "
         "FILE</tt></p><p>Its runs appear here as they complete; the queue in the Runs view "
         "shows what is waiting.</p>"));
  m_hint->setWordWrap(true);
  m_hint->setAlignment(Qt::AlignCenter);
  m_hint->setTextInteractionFlags(Qt::TextSelectableByMouse);

  m_chart = new StudyChart;
  m_heatmap_area = new QScrollArea;
  m_heatmap_area->setWidgetResizable(true);
  m_heatmap_area->setMinimumWidth(240);
  m_heatmap_area->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  auto* heatmap_page = new QWidget;
  m_heatmap_grid = new QGridLayout(heatmap_page);
  m_heatmap_grid->setContentsMargins(0, 0, 0, 0);
  m_heatmap_area->setWidget(heatmap_page);
  m_table = new QTableWidget;
  m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
  m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
  m_table->verticalHeader()->setVisible(false);
  m_table->setItemDelegateForColumn(0, new AllocationDelegate(m_table));
  m_table->setMinimumHeight(90);

  auto* top = new QSplitter(Qt::Horizontal);
  top->addWidget(m_chart);
  top->addWidget(m_heatmap_area);
  top->setStretchFactor(0, 3);
  top->setStretchFactor(1, 2);
  auto* split = new QSplitter(Qt::Vertical);
  split->addWidget(top);
  split->addWidget(m_table);
  split->setStretchFactor(0, 3);
  split->setStretchFactor(1, 2);
  m_pages = new QStackedWidget;
  m_pages->addWidget(m_hint);
  m_pages->addWidget(split);

  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(4, 4, 4, 4);
  layout->addLayout(bar);
  layout->addWidget(m_status);
  layout->addWidget(m_pages, 1);

  connect(m_study, &QComboBox::currentIndexChanged, this, [this] {
    if (m_filling) return;
    m_filling = true;
    m_baseline->clear();  // the new study's own baseline first
    m_filling = false;
    refresh();
  });
  connect(m_baseline, &QComboBox::currentIndexChanged, this, [this] {
    if (!m_filling) refresh();
  });
  connect(m_metric, &QComboBox::currentIndexChanged, this, [this] { showData(); });
  showData();
}

// The row above the view: the study, the baseline, final or best accuracy, the exports.
QHBoxLayout* StudyView::buildBar() {
  auto* bar = new QHBoxLayout;
  bar->addWidget(new QLabel(tr("Study:")));
  m_study = new QComboBox;
  m_study->setMinimumContentsLength(18);
  m_study->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
  bar->addWidget(m_study, 1);
  bar->addWidget(new QLabel(tr("Baseline:")));
  m_baseline = new QComboBox;
  m_baseline->setMinimumContentsLength(12);
  m_baseline->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
  m_baseline->setToolTip(tr("The variant the others are compared with, seed by seed"));
  bar->addWidget(m_baseline, 1);
  m_metric = new QComboBox;
  m_metric->addItem(tr("Final accuracy"), int(StudyChart::Metric::Final));
  m_metric->addItem(tr("Best accuracy"), int(StudyChart::Metric::Best));
  m_metric->setToolTip(tr("Each run's accuracy at its last evaluation, or its best one"));
  bar->addWidget(m_metric);
  m_export = new QToolButton;
  m_export->setText(tr("Export table"));
  m_export->setPopupMode(QToolButton::InstantPopup);
  auto* menu = new QMenu(m_export);
  menu->addAction(tr("CSV..."), this, [this] { exportDialog(TableFormat::Csv); });
  menu->addAction(tr("LaTeX..."), this, [this] { exportDialog(TableFormat::Latex); });
  menu->addAction(tr("Markdown..."), this, [this] { exportDialog(TableFormat::Markdown); });
  m_export->setMenu(menu);
  bar->addWidget(m_export);

  return bar;
}

void StudyView::setProviders(StudiesProvider studies, DataProvider data) {
  m_studies_provider = std::move(studies);
  m_data_provider = std::move(data);
  refresh();
}

qint64 StudyView::currentStudy() const {
  return m_study->currentIndex() >= 0 ? m_study->currentData().toLongLong() : -1;
}

bool StudyView::selectStudy(qint64 id) {
  const int i = m_study->findData(id);
  if (i < 0) return false;
  m_study->setCurrentIndex(i);
  return true;
}

void StudyView::refresh() {
  if (!m_studies_provider || !m_data_provider) return;
  m_error.clear();
  std::vector<StudyRecord> studies;
  try {
    studies = m_studies_provider();
  } catch (const std::exception& e) {
    m_error = QString::fromUtf8(e.what());
  }
  m_filling = true;
  const qint64 keep = currentStudy();
  m_study->clear();
  for (const StudyRecord& s : studies)
    m_study->addItem(tr("%1 (#%2)").arg(qs(s.name)).arg(s.id), qint64(s.id));
  // The study shown before, else the newest.
  const int kept = m_study->findData(keep);
  m_study->setCurrentIndex(kept >= 0 ? kept : m_study->count() - 1);
  m_filling = false;
  const qint64 id = currentStudy();
  if (id <= 0) {
    m_data.reset();
    showData();
    return;
  }
  try {
    const std::string baseline =
        m_baseline->currentIndex() >= 0 ? m_baseline->currentText().toStdString() : std::string();
    m_data = m_data_provider(id, baseline);
  } catch (const std::exception& e) {
    m_data.reset();
    m_error = QString::fromUtf8(e.what());
  }
  showData();
}

QString StudyView::statusLine() const {
  return m_status->text();
}

void StudyView::showData() {
  m_export->setEnabled(m_data.has_value());
  m_pages->setCurrentIndex(m_data ? 1 : 0);
  if (!m_data) {
    m_status->setText(m_error.isEmpty() ? QString() : tr("Cannot show the study: %1").arg(m_error));
    return;
  }
  const StudySummary& s = m_data->summary;
  // The baseline box lists the variants, the one compared with selected.
  m_filling = true;
  m_baseline->clear();
  for (const VariantSummary& v : s.variants) m_baseline->addItem(qs(v.name));
  m_baseline->setCurrentIndex(m_baseline->findText(qs(s.baseline)));
  m_filling = false;
  int completed = 0, waiting = 0, running = 0;
  for (const StudyRunResult& r : s.runs) {
    completed += r.state == "completed";
    waiting += r.state == "waiting";
    running += r.state == "running";
  }
  m_status->setText(
      tr("%1 runs: %2 completed, %3 running, %4 waiting. Accuracy on %5 (n %6) of completed "
         "runs; intervals are 95% Student-t across seeds; the difference from %7 is paired by "
         "seed (paired t-test p).")
          .arg(s.runs.size())
          .arg(completed)
          .arg(running)
          .arg(waiting)
          .arg(s.benchmark.empty() ? tr("no benchmark yet") : qs(s.benchmark))
          .arg(s.eval_n)
          .arg(qs(s.baseline)));
  m_chart->setSummary(s, StudyChart::Metric(m_metric->currentData().toInt()));
  PlotExport::of(m_chart)->setFileStem(fileSlug(qs(s.study.name)));
  fillTable();
  rebuildHeatmaps();
}

void StudyView::fillTable() {
  const StudySummary& s = m_data->summary;
  const std::vector<std::string> head = studyTableHeader(s);
  const auto rows = studyTableRows(s);
  m_table->clear();
  m_table->setColumnCount(int(head.size()));
  m_table->setRowCount(int(rows.size()));
  QStringList labels;
  for (const std::string& h : head) labels << qs(h);
  m_table->setHorizontalHeaderLabels(labels);
  int scale = 1;
  for (const VariantSummary& v : s.variants)
    if (const Allocation a = parseStored(v.allocation); a.numLayers() > 0)
      scale = std::max(scale, a.maxExperts());
  static_cast<AllocationDelegate*>(m_table->itemDelegateForColumn(0))->setScaleMax(scale);
  for (size_t r = 0; r < rows.size(); ++r) {
    for (size_t c = 0; c < rows[r].size(); ++c) {
      auto* item = new QTableWidgetItem(qs(rows[r][c]));
      if (c > 0) item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
      m_table->setItem(int(r), int(c), item);
    }
    const VariantSummary& v = s.variants[r];
    QList<int> experts;
    const Allocation alloc = parseStored(v.allocation);
    for (int e : alloc.perLayer()) experts << e;
    m_table->item(int(r), 0)->setData(RunsTableModel::AllocationRole, QVariant::fromValue(experts));
    m_table->item(int(r), 0)->setToolTip(
        tr("%1: %2, allocation %3").arg(qs(v.name), qs(v.method), qs(v.allocation)));
  }
  m_table->resizeColumnsToContents();
}

// One heatmap per variant that routes; rebuilt only when the variants change (a refresh of the
// same study updates the snapshots in place).
void StudyView::rebuildHeatmaps() {
  std::vector<const VariantRouting*> shown;
  QStringList keys;
  for (const VariantRouting& v : m_data->routing) {
    const Allocation alloc = parseStored(v.allocation);
    if (v.runs == 0 || alloc.maxExperts() < 2) continue;  // nothing routed, or plain LoRA
    shown.push_back(&v);
    keys << qs(v.variant + "|" + v.allocation);
  }
  if (keys != m_heatmap_keys) {
    for (ExpertHeatmap* h : m_heatmaps) delete h;
    m_heatmaps.clear();
    for (const VariantRouting* v : shown) {
      auto* h = new ExpertHeatmap;
      h->setMinimumSize(200, 170);
      h->setValueKind(ExpertHeatmap::Value::RelativeLoad);
      h->setAllocation(parseStored(v->allocation));
      m_heatmap_grid->addWidget(h, int(m_heatmaps.size()), 0);
      h->show();
      m_heatmaps.push_back(h);
    }
    m_heatmap_keys = keys;
  }
  double hi = 0;
  for (size_t i = 0; i < shown.size(); ++i) {
    ExpertHeatmap* h = m_heatmaps[i];
    h->setAutoColorRange();
    h->setSnapshot(shown[i]->mean);
    h->setTitle(shown[i]->runs == 1
                    ? tr("%1 (one run)").arg(qs(shown[i]->variant))
                    : tr("%1 (mean of %2 runs)").arg(qs(shown[i]->variant)).arg(shown[i]->runs),
                plotInk());
    if (const auto r = h->dataRange()) hi = std::max(hi, r->upper);
  }
  // One colour scale for all, shown once.
  for (size_t i = 0; i < m_heatmaps.size(); ++i) {
    m_heatmaps[i]->setColorRange(0.0, hi > 0 ? hi : 1.0);
    m_heatmaps[i]->setColorScaleVisible(i + 1 == m_heatmaps.size());
  }
  m_heatmap_area->setVisible(!m_heatmaps.empty());
}

bool StudyView::exportTable(const QString& path, TableFormat format, QString* error) const {
  if (!m_data) {
    if (error) *error = tr("no study is shown");
    return false;
  }
  QSaveFile file(path);
  const QByteArray bytes = QByteArray::fromStdString(studyTable(m_data->summary, format));
  if (!file.open(QIODevice::WriteOnly) || file.write(bytes) != bytes.size() || !file.commit()) {
    if (error) *error = tr("%1: %2").arg(path, file.errorString());
    return false;
  }
  return true;
}

void StudyView::exportDialog(TableFormat format) {
  if (!m_data) return;
  const QString name = fileSlug(qs(m_data->summary.study.name)) + QStringLiteral(".") +
                       QString::fromLatin1(suffixOf(format));
  const QString path = QFileDialog::getSaveFileName(
      this, tr("Export the study's table"),
      QDir(exportFolder(QStringLiteral("studyExportFolder"))).filePath(name));
  if (path.isEmpty()) return;
  rememberExportFolder(QStringLiteral("studyExportFolder"), path);
  QString error;
  if (!exportTable(path, format, &error)) m_status->setText(tr("Export failed: %1").arg(error));
}

}  // namespace mola::widgets
