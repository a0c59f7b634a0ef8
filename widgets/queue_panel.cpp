// SPDX-License-Identifier: GPL-3.0-or-later
// QueuePanel: the waiting runs, reordered and cancelled in place.
#include "queue_panel.h"

#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QStyle>
#include <QTableWidget>
#include <QVBoxLayout>
#include <algorithm>

#include "adapters/allocation.h"
#include "allocation_delegate.h"
#include "runs_table_model.h"
#include "theme.h"

namespace mola::widgets {

namespace {

QString qs(const std::string& s) {
  return QString::fromStdString(s);
}

QList<int> expertsOf(const std::string& list) {
  QList<int> out;
  if (const std::optional<Allocation> a = Allocation::fromStoredList(list))
    for (int e : a->perLayer()) out << e;
  return out;
}

}  // namespace

QueuePanel::QueuePanel(QWidget* parent) : QWidget(parent) {
  auto* title = new QLabel(tr("<b>Queue</b>"));
  m_count = new QLabel;
  setDimText(m_count);
  m_table = new QTableWidget(0, 3);
  m_table->setHorizontalHeaderLabels({tr("Run"), tr("Study / variant"), tr("Allocation")});
  m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
  m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
  m_table->setSelectionMode(QAbstractItemView::SingleSelection);
  m_table->verticalHeader()->setVisible(false);
  m_table->horizontalHeader()->setStretchLastSection(true);
  m_table->setItemDelegateForColumn(2, new AllocationDelegate(m_table));
  m_table->setMinimumWidth(220);
  m_up = new QPushButton(style()->standardIcon(QStyle::SP_ArrowUp), tr("Up"));
  m_down = new QPushButton(style()->standardIcon(QStyle::SP_ArrowDown), tr("Down"));
  m_cancel = new QPushButton(style()->standardIcon(QStyle::SP_DialogCancelButton), tr("Cancel"));
  m_up->setToolTip(tr("Train the selected run earlier"));
  m_down->setToolTip(tr("Train the selected run later"));
  m_cancel->setToolTip(tr("Take the selected run out of the queue (it stays listed as cancelled)"));
  m_run = new QPushButton(style()->standardIcon(QStyle::SP_MediaPlay), tr("Run queue"));
  m_run->setCheckable(true);
  m_run->setObjectName(QStringLiteral("runQueueButton"));

  auto* buttons = new QHBoxLayout;
  buttons->addWidget(m_up);
  buttons->addWidget(m_down);
  buttons->addWidget(m_cancel);
  buttons->addStretch(1);
  auto* head = new QHBoxLayout;
  head->addWidget(title);
  head->addWidget(m_count, 1);
  head->addWidget(m_run);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addLayout(head);
  layout->addWidget(m_table, 1);
  layout->addLayout(buttons);

  connect(m_table, &QTableWidget::itemSelectionChanged, this, &QueuePanel::updateButtons);
  connect(m_up, &QPushButton::clicked, this, [this] { move(-1); });
  connect(m_down, &QPushButton::clicked, this, [this] { move(+1); });
  connect(m_cancel, &QPushButton::clicked, this, [this] {
    if (const qint64 id = selectedItem(); id > 0) emit cancelRequested(id);
  });
  connect(m_run, &QPushButton::toggled, this, [this](bool on) {
    updateButtons();
    emit runQueueToggled(on);
  });
  updateButtons();
}

void QueuePanel::setItems(const std::vector<QueueItem>& items,
                          const std::map<int64_t, std::string>& studies) {
  const qint64 keep = selectedItem();
  m_ids.clear();
  m_table->setRowCount(0);
  int scale = 1;
  for (const QueueItem& q : items) {
    if (q.state != QueueState::Waiting) continue;
    const int row = m_table->rowCount();
    m_table->insertRow(row);
    m_ids.push_back(q.id);
    auto* name = new QTableWidgetItem(qs(q.name));
    name->setToolTip(tr("Queue item %1, queued %2").arg(q.id).arg(qs(q.created_at)));
    m_table->setItem(row, 0, name);
    const auto study = studies.find(q.study);
    const QString where = q.study == 0 ? tr("(on its own)")
                          : study != studies.end()
                              ? QStringLiteral("%1 / %2").arg(qs(study->second), qs(q.variant))
                              : qs(q.variant);
    m_table->setItem(row, 1, new QTableWidgetItem(where));
    auto* alloc = new QTableWidgetItem(qs(q.allocation));
    const QList<int> experts = expertsOf(q.allocation);
    for (int e : experts) scale = std::max(scale, e);
    alloc->setData(RunsTableModel::AllocationRole, QVariant::fromValue(experts));
    m_table->setItem(row, 2, alloc);
  }
  static_cast<AllocationDelegate*>(m_table->itemDelegateForColumn(2))->setScaleMax(scale);
  m_table->resizeColumnToContents(0);
  m_count->setText(m_ids.empty() ? tr("nothing waits")
                                 : tr("%n waiting", nullptr, int(m_ids.size())));
  selectItem(keep);
  updateButtons();
}

void QueuePanel::setRunning(bool running) {
  if (m_run->isChecked() == running) return;
  const QSignalBlocker block(m_run);
  m_run->setChecked(running);
  updateButtons();
}

bool QueuePanel::isRunning() const {
  return m_run->isChecked();
}

void QueuePanel::setRunAvailable(bool available, const QString& why) {
  m_run_available = available;
  m_run_why = why;
  updateButtons();
}

qint64 QueuePanel::selectedItem() const {
  const auto rows = m_table->selectionModel()->selectedRows();
  if (rows.isEmpty()) return -1;
  return m_ids.at(size_t(rows.first().row()));
}

void QueuePanel::selectItem(qint64 id) {
  const auto it = std::find(m_ids.begin(), m_ids.end(), id);
  if (it == m_ids.end()) {
    m_table->clearSelection();
    return;
  }
  m_table->selectRow(int(it - m_ids.begin()));
}

void QueuePanel::move(int delta) {
  const qint64 id = selectedItem();
  const auto it = std::find(m_ids.begin(), m_ids.end(), id);
  if (it == m_ids.end()) return;
  const long i = it - m_ids.begin();
  // Up: before the previous item. Down: before the one after next (or to the end).
  const long target = delta < 0 ? i - 1 : i + 2;
  if (target < 0 || (delta > 0 && i + 1 >= long(m_ids.size()))) return;
  emit moveRequested(id, target < long(m_ids.size()) ? m_ids[size_t(target)] : 0);
}

void QueuePanel::updateButtons() {
  const qint64 id = selectedItem();
  const auto it = std::find(m_ids.begin(), m_ids.end(), id);
  const bool selected = it != m_ids.end();
  m_up->setEnabled(selected && it != m_ids.begin());
  m_down->setEnabled(selected && it + 1 != m_ids.end());
  m_cancel->setEnabled(selected);
  m_run->setEnabled(m_run->isChecked() || (m_run_available && !m_ids.empty()));
  m_run->setText(m_run->isChecked() ? tr("Running queue") : tr("Run queue"));
  m_run->setToolTip(m_run->isChecked()
                        ? tr("The workbench trains the waiting runs one after another; click to "
                             "stop after the run in progress")
                    : !m_run_available ? m_run_why
                    : m_ids.empty()    ? tr("Nothing waits: Add to queue in the Design view, or "
                                               "mola study add")
                                       : tr("Train the waiting runs one after another, top first"));
}

}  // namespace mola::widgets
