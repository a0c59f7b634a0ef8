// SPDX-License-Identifier: GPL-3.0-or-later
// RunsBrowser: search box over a sorted proxy of RunsTableModel, the table, and its actions.
#include "runs_browser.h"

#include <QHBoxLayout>
#include <QHeaderView>
#include <QItemSelectionModel>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QMessageBox>
#include <QPushButton>
#include <QShortcut>
#include <QSortFilterProxyModel>
#include <QTableView>
#include <QVBoxLayout>
#include <algorithm>

#include "allocation_delegate.h"

namespace mola::widgets {

RunsBrowser::RunsBrowser(QWidget* parent)
    : QWidget(parent),
      m_model(new RunsTableModel(this)),
      m_proxy(new QSortFilterProxyModel(this)),
      m_delegate(new AllocationDelegate(this)),
      m_view(new QTableView(this)),
      m_search(new QLineEdit(this)),
      m_open(new QPushButton(tr("Open"), this)),
      m_compare(new QPushButton(tr("Compare"), this)),
      m_export(new QPushButton(tr("Export CSV..."), this)),
      m_delete(new QPushButton(tr("Delete..."), this)),
      m_label(new QPushButton(tr("Tags && note..."), this)),
      m_advise(new QPushButton(tr("Advise..."), this)),
      m_score(new QPushButton(tr("Score..."), this)),
      m_routing(new QPushButton(tr("Routing..."), this)),
      m_status(new QLabel(this)) {
  setUpTable();
  setUpButtons();
  connectActions();
  m_confirmer = [this](const QString& title, const QString& text) {
    return QMessageBox::question(this, title, text, QMessageBox::Yes | QMessageBox::Cancel,
                                 QMessageBox::Cancel) == QMessageBox::Yes;
  };
  updateButtons();
  updateStatusLine();
}

void RunsBrowser::setUpTable() {
  m_proxy->setSourceModel(m_model);
  m_proxy->setSortRole(RunsTableModel::SortRole);
  m_proxy->setFilterRole(RunsTableModel::FilterRole);
  m_proxy->setFilterKeyColumn(-1);  // any column's filter text may match
  m_proxy->setFilterCaseSensitivity(Qt::CaseInsensitive);
  m_proxy->setDynamicSortFilter(true);

  m_search->setPlaceholderText(
      tr("Search runs by name, model, allocation, status, study, tag or note"));
  m_search->setClearButtonEnabled(true);
  connect(m_search, &QLineEdit::textChanged, m_proxy, &QSortFilterProxyModel::setFilterFixedString);
  connect(m_search, &QLineEdit::textChanged, this, &RunsBrowser::updateStatusLine);

  m_view->setModel(m_proxy);
  m_view->setItemDelegateForColumn(RunsTableModel::AllocationColumn, m_delegate);
  m_view->setSelectionBehavior(QAbstractItemView::SelectRows);
  m_view->setSelectionMode(QAbstractItemView::ExtendedSelection);
  m_view->setAlternatingRowColors(true);
  m_view->setSortingEnabled(true);
  m_view->setWordWrap(false);
  m_view->setTextElideMode(Qt::ElideMiddle);
  m_view->setShowGrid(false);
  m_view->verticalHeader()->hide();
  m_view->verticalHeader()->setDefaultSectionSize(26);
  m_view->sortByColumn(RunsTableModel::Created, Qt::DescendingOrder);
  QHeaderView* header = m_view->horizontalHeader();
  header->setHighlightSections(false);
  header->setStretchLastSection(false);
  header->setSectionResizeMode(QHeaderView::ResizeToContents);
  // The name as wide as the names need (within limits) and the model path takes the rest: a
  // stretched name column took half a wide window.
  header->setSectionResizeMode(RunsTableModel::Name, QHeaderView::Interactive);
  header->setSectionResizeMode(RunsTableModel::Model, QHeaderView::Stretch);
  header->setMinimumSectionSize(48);
  connect(header, &QHeaderView::sectionResized, this, [this](int section) {
    if (section == RunsTableModel::Name && !m_fitting_name) m_name_sized_by_user = true;
  });
}

void RunsBrowser::setUpButtons() {
  m_open->setToolTip(tr("Open the selected run"));
  m_compare->setToolTip(tr("Compare the selected runs side by side (select two or more)"));
  m_delete->setToolTip(tr("Delete the selected runs with their metrics and checkpoints"));
  m_export->setToolTip(
      tr("Write the selected run's metrics, router statistics and scores as CSV files"));
  m_label->setToolTip(tr("Tag the selected run and write a note on it (both searchable)"));
  m_advise->setToolTip(
      tr("Propose experts per layer from the selected run's routers, under a budget; the "
         "proposal can go to the Design view or join a study"));
  m_score->setToolTip(
      tr("Score the selected runs' newest checkpoints on a benchmark, one after another; each "
         "score joins its run's evaluations"));
  m_status->setTextFormat(Qt::PlainText);

  // The count (or the error) beside the search it answers; the buttons take the whole row.
  auto* search_row = new QHBoxLayout;
  search_row->addWidget(m_search, 1);
  search_row->addWidget(m_status);
  auto* buttons = new QHBoxLayout;
  buttons->addStretch(1);
  buttons->addWidget(m_open);
  buttons->addWidget(m_compare);
  buttons->addWidget(m_export);
  buttons->addWidget(m_label);
  buttons->addWidget(m_score);
  buttons->addWidget(m_routing);
  buttons->addWidget(m_advise);
  buttons->addWidget(m_delete);
  auto* layout = new QVBoxLayout(this);
  layout->addLayout(search_row);
  layout->addWidget(m_view, 1);
  layout->addLayout(buttons);
}

void RunsBrowser::connectActions() {
  connect(m_view->selectionModel(), &QItemSelectionModel::selectionChanged, this,
          &RunsBrowser::updateButtons);
  // Rows leaving the proxy (a refresh, a filter) change the selection without always saying so.
  connect(m_proxy, &QAbstractItemModel::rowsRemoved, this, &RunsBrowser::updateButtons);
  connect(m_proxy, &QAbstractItemModel::rowsInserted, this, &RunsBrowser::updateButtons);
  connect(m_proxy, &QAbstractItemModel::layoutChanged, this, &RunsBrowser::updateButtons);
  connect(m_proxy, &QAbstractItemModel::modelReset, this, &RunsBrowser::updateButtons);
  connect(m_proxy, &QAbstractItemModel::dataChanged, this, &RunsBrowser::updateButtons);
  connect(m_proxy, &QAbstractItemModel::rowsRemoved, this, &RunsBrowser::updateStatusLine);
  connect(m_proxy, &QAbstractItemModel::rowsInserted, this, &RunsBrowser::updateStatusLine);

  connect(m_view, &QTableView::activated, this, [this](const QModelIndex& index) {
    const qint64 id = index.data(RunsTableModel::RunIdRole).toLongLong();
    if (id > 0) emit runActivated(id);
  });
  // The buttons that act on one selected run.
  const auto forOneRun = [this](QPushButton* button, void (RunsBrowser::*signal)(qint64)) {
    connect(button, &QPushButton::clicked, this, [this, signal] {
      const QList<qint64> ids = selectedRunIds();
      if (ids.size() == 1) emit(this->*signal)(ids.front());
    });
  };
  forOneRun(m_open, &RunsBrowser::runActivated);
  forOneRun(m_export, &RunsBrowser::exportRequested);
  forOneRun(m_label, &RunsBrowser::labelRequested);
  forOneRun(m_routing, &RunsBrowser::routingRequested);
  forOneRun(m_advise, &RunsBrowser::adviseRequested);
  connect(m_compare, &QPushButton::clicked, this, [this] {
    const QList<qint64> ids = selectedRunIds();
    if (ids.size() >= 2) emit compareRequested(ids);
  });
  connect(m_score, &QPushButton::clicked, this, [this] {
    const QList<qint64> ids = selectedRunIds();
    if (!ids.isEmpty()) emit scoreRequested(ids);
  });
  m_view->setContextMenuPolicy(Qt::CustomContextMenu);
  connect(m_view, &QWidget::customContextMenuRequested, this, &RunsBrowser::showContextMenu);
  connect(m_delete, &QPushButton::clicked, this, &RunsBrowser::requestDelete);
  auto* del = new QShortcut(QKeySequence::Delete, m_view);
  del->setContext(Qt::WidgetShortcut);
  connect(del, &QShortcut::activated, this, &RunsBrowser::requestDelete);
}

void RunsBrowser::setRows(std::vector<RunsRow> rows) {
  m_model->setRows(std::move(rows));
  m_delegate->setScaleMax(m_model->maxExperts());
  if (!m_name_sized_by_user) {
    m_fitting_name = true;
    m_view->resizeColumnToContents(RunsTableModel::Name);
    m_view->setColumnWidth(RunsTableModel::Name,
                           std::clamp(m_view->columnWidth(RunsTableModel::Name), 140, 360));
    m_fitting_name = false;
  }
  updateButtons();
  updateStatusLine();
}

void RunsBrowser::setProvider(Provider provider) {
  m_provider = std::move(provider);
  refresh();
}

void RunsBrowser::setConfirmer(Confirmer confirmer) {
  m_confirmer = std::move(confirmer);
}

void RunsBrowser::refresh() {
  if (!m_provider) return;
  try {
    std::vector<RunsRow> rows = m_provider();
    m_error.clear();
    setRows(std::move(rows));
  } catch (const std::exception& e) {
    // The rows already shown stay: a locked or damaged database must not blank the list.
    m_error = tr("Could not read the runs: %1").arg(QString::fromUtf8(e.what()));
    updateStatusLine();
  }
}

QList<qint64> RunsBrowser::selectedRunIds() const {
  QModelIndexList rows = m_view->selectionModel()->selectedRows();
  std::sort(rows.begin(), rows.end(),
            [](const QModelIndex& a, const QModelIndex& b) { return a.row() < b.row(); });
  QList<qint64> ids;
  for (const QModelIndex& index : rows)
    ids.append(index.data(RunsTableModel::RunIdRole).toLongLong());
  return ids;
}

void RunsBrowser::selectRuns(const QList<qint64>& ids) {
  QItemSelection selection;
  for (qint64 id : ids) {
    const int source_row = m_model->rowOf(id);
    if (source_row < 0) continue;
    const QModelIndex index = m_proxy->mapFromSource(m_model->index(source_row, 0));
    if (index.isValid()) selection.select(index, index);
  }
  m_view->selectionModel()->select(selection,
                                   QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
}

QString RunsBrowser::statusLine() const {
  return m_status->text();
}

QString RunsBrowser::describeRuns(const QList<qint64>& ids) const {
  QStringList lines;
  for (qint64 id : ids) {
    const int row = m_model->rowOf(id);
    if (row < 0) continue;
    const RunRecord& r = m_model->rows()[size_t(row)].record;
    lines << QStringLiteral("  #%1  %2  (%3, %4 steps)")
                 .arg(id)
                 .arg(QString::fromStdString(r.name), RunsTableModel::statusText(r.status))
                 .arg(r.last_step);
  }
  return lines.join(QLatin1Char('\n'));
}

void RunsBrowser::requestDelete() {
  const QList<qint64> ids = selectedRunIds();
  if (ids.isEmpty() || !m_delete->isEnabled()) return;
  const QString title = ids.size() == 1 ? tr("Delete run") : tr("Delete %1 runs").arg(ids.size());
  const QString text =
      (ids.size() == 1 ? tr("Delete this run?") : tr("Delete these %1 runs?").arg(ids.size())) +
      QStringLiteral("\n\n") + describeRuns(ids) + QStringLiteral("\n\n") +
      tr("Their metrics, router statistics, scores and checkpoints are removed for good.");
  if (m_confirmer && m_confirmer(title, text)) emit deleteRequested(ids);
}

void RunsBrowser::updateButtons() {
  const QList<qint64> ids = selectedRunIds();
  bool running = false;
  for (qint64 id : ids) {
    const int row = m_model->rowOf(id);
    running |= row >= 0 && m_model->rows()[size_t(row)].record.status == RunStatus::Running;
  }
  m_open->setEnabled(ids.size() == 1);
  m_compare->setEnabled(ids.size() >= 2);
  m_export->setEnabled(ids.size() == 1);
  m_label->setEnabled(ids.size() == 1);
  m_score->setEnabled(!ids.isEmpty());
  const int one = ids.size() == 1 ? m_model->rowOf(ids.front()) : -1;
  const bool routed = one >= 0 && m_model->rows()[size_t(one)].allocation.numLayers() > 0 &&
                      m_model->rows()[size_t(one)].allocation.maxExperts() > 1;
  m_advise->setEnabled(routed);
  const bool task_gated = one >= 0 && m_model->rows()[size_t(one)].task_gated;
  m_routing->setEnabled(routed && !task_gated);
  m_routing->setToolTip(
      task_gated ? tr("A MOELoRA run's gate reads the task, not the token: every token of a task "
                      "goes to the same experts (its task gates are in the Train view)")
      : routed   ? tr("Trace a text through this run's newest checkpoint: which experts each "
                        "token goes to, layer by layer")
                 : tr("Select one MoLA run (with routers) to trace its routing"));
  m_advise->setToolTip(routed
                           ? tr("Propose experts per layer from this run's routers, under a budget")
                           : tr("Select one MoLA run (with routers) to advise an allocation from"));
  // A run that is training still writes to its rows and folder: stop it first.
  m_delete->setEnabled(!ids.isEmpty() && !running);
  m_delete->setToolTip(running ? tr("A running run cannot be deleted: stop it first")
                               : tr("Delete the selected runs with their metrics and checkpoints"));
}

// The buttons' actions on the rows, under the mouse.
void RunsBrowser::showContextMenu(const QPoint& pos) {
  const QModelIndex index = m_view->indexAt(pos);
  if (!index.isValid()) return;
  if (!m_view->selectionModel()->isRowSelected(index.row(), {})) m_view->selectRow(index.row());
  QMenu menu(this);
  for (QPushButton* b :
       {m_open, m_compare, m_export, m_label, m_score, m_routing, m_advise, m_delete}) {
    QAction* a = menu.addAction(b->text(), b, &QPushButton::click);
    a->setEnabled(b->isEnabled());
    if (b == m_export || b == m_advise) menu.addSeparator();
  }
  menu.exec(m_view->viewport()->mapToGlobal(pos));
}

void RunsBrowser::updateStatusLine() {
  QPalette palette = m_status->palette();
  palette.setColor(QPalette::WindowText, m_error.isEmpty()
                                             ? this->palette().color(QPalette::WindowText)
                                             : RunsTableModel::statusColour(RunStatus::Failed));
  m_status->setPalette(palette);
  if (!m_error.isEmpty()) {
    m_status->setText(m_error);
    return;
  }
  const int all = m_model->rowCount(), shown = m_proxy->rowCount();
  if (all == 0)
    m_status->setText(tr("No runs yet: train an experiment and it appears here."));
  else if (shown == all)
    m_status->setText(all == 1 ? tr("1 run") : tr("%1 runs").arg(all));
  else
    m_status->setText(
        tr("%1 of %2 runs match \u201c%3\u201d").arg(shown).arg(all).arg(m_search->text()));
}

}  // namespace mola::widgets
