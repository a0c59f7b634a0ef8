// SPDX-License-Identifier: GPL-3.0-or-later
// QueuePanel: the runs waiting in the database's queue (queued in the workbench or by a study),
// in order, with Up, Down, Cancel and the switch that lets the workbench train them one after
// another (torch-free; the owner reads and writes the store).
#pragma once

#include <QWidget>
#include <map>
#include <string>
#include <vector>

#include "store/run_store.h"

class QLabel;
class QPushButton;
class QTableWidget;

namespace mola::widgets {

class QueuePanel : public QWidget {
  Q_OBJECT

 public:
  explicit QueuePanel(QWidget* parent = nullptr);

  // Shows the waiting items of `items` in their order (the others are left out); `studies` names
  // the studies by id. The selection stays on the same item.
  void setItems(const std::vector<QueueItem>& items, const std::map<int64_t, std::string>& studies);
  // The queue switch as the owner runs it: on while the workbench works through the queue.
  void setRunning(bool running);
  bool isRunning() const;
  // Whether the switch can be turned on now, and why not.
  void setRunAvailable(bool available, const QString& why);

  // The selected waiting item, or -1.
  qint64 selectedItem() const;
  void selectItem(qint64 id);
  const std::vector<qint64>& itemIds() const { return m_ids; }

  QTableWidget* table() const { return m_table; }
  QPushButton* upButton() const { return m_up; }
  QPushButton* downButton() const { return m_down; }
  QPushButton* cancelButton() const { return m_cancel; }
  QPushButton* runButton() const { return m_run; }

 signals:
  // Move `item` just before `before` (0: to the end).
  void moveRequested(qint64 item, qint64 before);
  void cancelRequested(qint64 item);
  void runQueueToggled(bool on);

 private:
  void updateButtons();
  void move(int delta);

  QTableWidget* m_table;
  QPushButton* m_up;
  QPushButton* m_down;
  QPushButton* m_cancel;
  QPushButton* m_run;
  QLabel* m_count;
  std::vector<qint64> m_ids;  // waiting items, in queue order
  bool m_run_available = true;
  QString m_run_why;
};

}  // namespace mola::widgets
