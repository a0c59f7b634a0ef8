// SPDX-License-Identifier: GPL-3.0-or-later
// TaskListEditor layout, and keeping the list and the selected task's editors in step.
#include "task_list_editor.h"

#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QPushButton>
#include <QSignalBlocker>
#include <QSpinBox>
#include <QVBoxLayout>
#include <algorithm>
#include <climits>

#include "data_source_editor.h"
#include "theme.h"

namespace mola::widgets {

namespace {

QString qs(const std::string& s) {
  return QString::fromStdString(s);
}

// "arith (id 0)": how the list names a task.
QString itemText(const TaskSpec& t) {
  return TaskListEditor::tr("%1 (id %2)")
      .arg(t.name.empty() ? TaskListEditor::tr("unnamed") : qs(t.name))
      .arg(t.id);
}

}  // namespace

TaskListEditor::TaskListEditor(QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->setSpacing(4);

  m_hint = new QLabel(tr("One data set (Train and Eval above), or several tasks, each with its own "
                         "data and scored on its own (MOELoRA's gate reads the task)."),
                      this);
  m_hint->setWordWrap(true);
  setDimText(m_hint);
  layout->addWidget(m_hint);

  auto* row = new QHBoxLayout;
  m_list = new QListWidget(this);
  m_list->setAccessibleName(tr("Tasks"));
  m_list->setMaximumHeight(80);
  row->addWidget(m_list, 1);
  auto* buttons = new QVBoxLayout;
  m_add = new QPushButton(tr("Add task"), this);
  m_add->setToolTip(tr("A new task; the first one takes over Train and Eval"));
  m_remove = new QPushButton(tr("Remove"), this);
  m_remove->setToolTip(tr("Remove the selected task"));
  // At their natural width, also while the list is hidden and the row is theirs alone.
  m_remove->setMinimumWidth(m_add->sizeHint().width());
  buttons->addWidget(m_add, 0, Qt::AlignLeft);
  buttons->addWidget(m_remove, 0, Qt::AlignLeft);
  buttons->addStretch(1);
  row->addLayout(buttons);
  layout->addLayout(row);

  m_detail = new QWidget(this);
  auto* form = new QFormLayout(m_detail);
  form->setContentsMargins(0, 0, 0, 0);
  m_name = new QLineEdit(m_detail);
  m_name->setAccessibleName(tr("Task name"));
  m_name->setToolTip(tr("How reports name the task; unique and not empty"));
  m_id = new QSpinBox(m_detail);
  m_id->setRange(0, INT_MAX);
  m_id->setToolTip(tr("The task's id, unique among the tasks"));
  auto* name_row = new QHBoxLayout;
  name_row->addWidget(m_name, 1);
  name_row->addWidget(new QLabel(tr("id"), m_detail));
  name_row->addWidget(m_id);
  form->addRow(tr("Name:"), name_row);
  m_train = new DataSourceEditor(tr("task's training data"), m_detail);
  form->addRow(tr("Train:"), m_train);
  m_eval = new DataSourceEditor(tr("task's evaluation data"), m_detail);
  m_eval->pathEdit()->setPlaceholderText(tr("none: the task is not scored"));
  form->addRow(tr("Eval:"), m_eval);
  layout->addWidget(m_detail);

  connect(m_add, &QPushButton::clicked, this, &TaskListEditor::addTask);
  connect(m_remove, &QPushButton::clicked, this, &TaskListEditor::removeTask);
  connect(m_list, &QListWidget::currentRowChanged, this, [this](int row) {
    if (m_filling) return;
    m_current = row;
    showCurrent();
  });
  connect(m_name, &QLineEdit::textEdited, this, &TaskListEditor::storeCurrent);
  connect(m_id, &QSpinBox::valueChanged, this, &TaskListEditor::storeCurrent);
  connect(m_train, &DataSourceEditor::changed, this, &TaskListEditor::storeCurrent);
  connect(m_eval, &DataSourceEditor::changed, this, &TaskListEditor::storeCurrent);
  setTasks({});
}

void TaskListEditor::setTasks(const std::vector<TaskSpec>& tasks) {
  m_tasks = tasks;
  m_filling = true;
  m_list->clear();
  for (const TaskSpec& t : m_tasks) m_list->addItem(itemText(t));
  m_filling = false;
  m_current = m_tasks.empty() ? -1 : 0;
  showCurrent();
}

void TaskListEditor::selectTask(int index) {
  if (index < 0 || index >= int(m_tasks.size())) return;
  m_list->setCurrentRow(index);
}

void TaskListEditor::showCurrent() {
  const bool any = m_current >= 0 && m_current < int(m_tasks.size());
  m_list->setVisible(!m_tasks.empty());
  m_remove->setVisible(!m_tasks.empty());
  m_hint->setVisible(m_tasks.empty());
  m_detail->setVisible(any);
  if (!any) return;
  m_filling = true;
  {
    const QSignalBlocker list(m_list);
    m_list->setCurrentRow(m_current);
  }
  const TaskSpec& t = m_tasks[size_t(m_current)];
  m_name->setText(qs(t.name));
  m_id->setValue(t.id);
  m_train->setSpec(t.train);
  m_eval->setSpec(t.eval);
  m_filling = false;
}

void TaskListEditor::storeCurrent() {
  if (m_filling || m_current < 0 || m_current >= int(m_tasks.size())) return;
  TaskSpec& t = m_tasks[size_t(m_current)];
  t.name = m_name->text().trimmed().toStdString();
  t.id = m_id->value();
  t.train = m_train->spec();
  t.eval = m_eval->spec();
  m_list->item(m_current)->setText(itemText(t));
  emit changed();
}

void TaskListEditor::addTask() {
  TaskSpec t;
  if (m_tasks.empty() && m_first) {
    t = m_first();
  } else {
    int id = 0;
    for (const TaskSpec& o : m_tasks) id = std::max(id, o.id + 1);
    t.id = id;
    // "task N", N the first that no task is named.
    for (int n = int(m_tasks.size()) + 1;; ++n) {
      const std::string name = "task " + std::to_string(n);
      if (std::none_of(m_tasks.begin(), m_tasks.end(),
                       [&](const TaskSpec& o) { return o.name == name; })) {
        t.name = name;
        break;
      }
    }
  }
  m_tasks.push_back(t);
  m_filling = true;
  m_list->addItem(itemText(t));
  m_filling = false;
  m_current = int(m_tasks.size()) - 1;
  showCurrent();
  m_name->setFocus();
  emit changed();
}

void TaskListEditor::removeTask() {
  if (m_current < 0 || m_current >= int(m_tasks.size())) return;
  m_tasks.erase(m_tasks.begin() + m_current);
  m_filling = true;
  delete m_list->takeItem(m_current);
  m_filling = false;
  m_current = std::min(m_current, int(m_tasks.size()) - 1);
  showCurrent();
  emit changed();
}

}  // namespace mola::widgets
