// SPDX-License-Identifier: GPL-3.0-or-later
// TaskListEditor: the tasks of a multi-task experiment (data.tasks): their names in a list with
// Add and Remove, and the selected task's name, id, training and evaluation data (torch-free).
#pragma once

#include <QWidget>
#include <functional>
#include <vector>

#include "experiment/experiment_config.h"

class QLabel;
class QLineEdit;
class QListWidget;
class QPushButton;
class QSpinBox;

namespace mola::widgets {

class DataSourceEditor;

class TaskListEditor : public QWidget {
  Q_OBJECT

 public:
  explicit TaskListEditor(QWidget* parent = nullptr);

  void setTasks(const std::vector<TaskSpec>& tasks);
  std::vector<TaskSpec> tasks() const { return m_tasks; }
  // What Add gives when there is no task yet (the form's single data set, which becomes the
  // first task); later tasks start empty, named "task N" with the next free id.
  void setFirstTask(std::function<TaskSpec()> first) { m_first = std::move(first); }
  int currentTask() const { return m_current; }
  void selectTask(int index);

  QPushButton* addButton() const { return m_add; }
  QPushButton* removeButton() const { return m_remove; }
  QListWidget* list() const { return m_list; }
  QLineEdit* nameEdit() const { return m_name; }
  DataSourceEditor* trainEditor() const { return m_train; }
  DataSourceEditor* evalEditor() const { return m_eval; }

 signals:
  void changed();

 private:
  void addTask();
  void removeTask();
  void showCurrent();
  void storeCurrent();  // the detail editors into m_tasks[m_current]

  std::vector<TaskSpec> m_tasks;
  int m_current = -1;
  bool m_filling = false;  // the editors are being filled, not edited
  std::function<TaskSpec()> m_first;
  QListWidget* m_list = nullptr;
  QPushButton* m_add = nullptr;
  QPushButton* m_remove = nullptr;
  QWidget* m_detail = nullptr;
  QLineEdit* m_name = nullptr;
  QSpinBox* m_id = nullptr;
  DataSourceEditor* m_train = nullptr;
  DataSourceEditor* m_eval = nullptr;
  QLabel* m_hint = nullptr;
};

}  // namespace mola::widgets
