// SPDX-License-Identifier: GPL-3.0-or-later
// RunsBrowser: the stored runs in a searchable, sortable table with Open, Compare and Delete
// (torch-free; it never opens the database: rows are handed to it or pulled from a provider).
#pragma once

#include <QList>
#include <QWidget>
#include <functional>
#include <vector>

#include "runs_table_model.h"

class QLabel;
class QLineEdit;
class QPushButton;
class QSortFilterProxyModel;
class QTableView;

namespace mola::widgets {

class AllocationDelegate;

class RunsBrowser : public QWidget {
  Q_OBJECT

 public:
  // Returns the rows to show; may throw (std::exception): the message is shown in the browser.
  using Provider = std::function<std::vector<RunsRow>()>;
  // Asks the user to confirm (title, question); true means go ahead. Tests replace the default
  // QMessageBox::question with an answer of their own.
  using Confirmer = std::function<bool(const QString& title, const QString& text)>;

  explicit RunsBrowser(QWidget* parent = nullptr);

  void setRows(std::vector<RunsRow> rows);
  void setProvider(Provider provider);
  void setConfirmer(Confirmer confirmer);

  // Selected run ids in the order the table shows them.
  QList<qint64> selectedRunIds() const;
  // Selects exactly these runs (those not listed, or filtered out, are ignored).
  void selectRuns(const QList<qint64>& ids);

  RunsTableModel* model() const { return m_model; }
  QSortFilterProxyModel* proxy() const { return m_proxy; }
  QTableView* view() const { return m_view; }
  QLineEdit* searchBox() const { return m_search; }
  QPushButton* openButton() const { return m_open; }
  QPushButton* compareButton() const { return m_compare; }
  QPushButton* deleteButton() const { return m_delete; }
  QPushButton* exportButton() const { return m_export; }
  QPushButton* labelButton() const { return m_label; }
  QPushButton* adviseButton() const { return m_advise; }
  QPushButton* scoreButton() const { return m_score; }
  QPushButton* routingButton() const { return m_routing; }
  // The line under the table: how many runs are shown, or why they could not be read.
  QString statusLine() const;

 public slots:
  // Pulls the rows from the provider (nothing without one); keeps the selection.
  void refresh();
  // Asks to delete the selected runs, naming them; emits deleteRequested only when confirmed.
  void requestDelete();

 signals:
  // Double-click, Enter, or Open with one run selected.
  void runActivated(qint64 id);
  // Compare with two or more selected.
  void compareRequested(const QList<qint64>& ids);
  // The user confirmed deleting these runs; the owner deletes them and refreshes.
  void deleteRequested(const QList<qint64>& ids);
  // Export CSV... with one run selected.
  void exportRequested(qint64 id);
  // Tags & note... with one run selected.
  void labelRequested(qint64 id);
  // Advise... with one MoLA run selected: an allocation from its routers.
  void adviseRequested(qint64 id);
  // Score... with runs selected: their newest checkpoints on a benchmark.
  void scoreRequested(const QList<qint64>& ids);
  // Routing... with one MoLA run selected: where a text's tokens go.
  void routingRequested(qint64 id);

 private:
  // The constructor's parts: the search and the table; the buttons' tips and the layout; what
  // the selection, the table and the buttons do.
  void setUpTable();
  void setUpButtons();
  void connectActions();
  void updateButtons();
  void showContextMenu(const QPoint& pos);
  void updateStatusLine();
  QString describeRuns(const QList<qint64>& ids) const;

  RunsTableModel* m_model = nullptr;
  QSortFilterProxyModel* m_proxy = nullptr;
  AllocationDelegate* m_delegate = nullptr;
  QTableView* m_view = nullptr;
  QLineEdit* m_search = nullptr;
  QPushButton* m_open = nullptr;
  QPushButton* m_compare = nullptr;
  QPushButton* m_export = nullptr;
  QPushButton* m_delete = nullptr;
  QPushButton* m_label = nullptr;
  QPushButton* m_advise = nullptr;
  QPushButton* m_score = nullptr;
  QPushButton* m_routing = nullptr;
  QLabel* m_status = nullptr;
  QString m_error;  // the provider's last failure, shown until a refresh succeeds
  Provider m_provider;
  Confirmer m_confirmer;
  // The name column follows the names until the user resizes it.
  bool m_fitting_name = false;
  bool m_name_sized_by_user = false;
};

}  // namespace mola::widgets
