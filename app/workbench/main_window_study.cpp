// SPDX-License-Identifier: GPL-3.0-or-later
// MainWindow's studies and queue: the Runs tab with its queue panel, the Study view, queueing the
// Design view's experiment, working through the queue, tags and notes, and the advisor.
#include <QPushButton>
#include <QSplitter>
#include <QTabWidget>
#include <QTimer>
#include <map>
#include <stdexcept>

#include "advice_dialog.h"
#include "experiment/experiment_config.h"
#include "experiment_form.h"
#include "main_window.h"
#include "queue_panel.h"
#include "run_label_dialog.h"
#include "runs_browser.h"
#include "store/run_launch.h"
#include "study/study_queue.h"
#include "study/study_report.h"
#include "study_view.h"
#include "train_view.h"
#include "training_controller.h"

namespace mola::app {

namespace {

QString qs(const std::string& s) {
  return QString::fromStdString(s);
}

}  // namespace

QWidget* MainWindow::buildRunsTab() {
  m_runs = new widgets::RunsBrowser;
  m_queue = new widgets::QueuePanel;
  // The queue under the runs: the window stays as narrow as the runs' table allows.
  auto* split = new QSplitter(Qt::Vertical, this);
  split->addWidget(m_runs);
  split->addWidget(m_queue);
  split->setStretchFactor(0, 3);
  split->setStretchFactor(1, 1);
  split->setSizes({560, 180});
  split->setChildrenCollapsible(false);
  return split;
}

void MainWindow::connectStudyParts() {
  connect(m_runs, &widgets::RunsBrowser::labelRequested, this, &MainWindow::editRunLabelsDialog);
  connect(m_runs, &widgets::RunsBrowser::adviseRequested, this, &MainWindow::adviseDialog);
  connect(m_queue, &widgets::QueuePanel::moveRequested, this, [this](qint64 item, qint64 before) {
    try {
      if (m_store) m_store->moveQueued(item, before);
    } catch (const std::exception& e) {
      showError(tr("Cannot move the queued run"), QString::fromUtf8(e.what()));
    }
    refreshQueue();
    m_queue->selectItem(item);
  });
  connect(m_queue, &widgets::QueuePanel::cancelRequested, this, [this](qint64 item) {
    try {
      if (m_store) m_store->cancelQueued(item);
    } catch (const std::exception& e) {
      showError(tr("Cannot cancel the queued run"), QString::fromUtf8(e.what()));
    }
    refreshQueue();
  });
  connect(m_queue, &widgets::QueuePanel::runQueueToggled, this, &MainWindow::setQueueRunning);
  m_study_view->setProviders(
      [this] {
        if (!m_store) throw std::runtime_error("no run database is open");
        return m_store->listStudies();
      },
      [this](qint64 study, const std::string& baseline) {
        if (!m_store) throw std::runtime_error("no run database is open");
        widgets::StudyViewData data{summarizeStudy(*m_store, study, baseline), {}};
        data.routing = variantRouting(*m_store, data.summary);
        return data;
      });
  connect(m_tabs, &QTabWidget::currentChanged, this, [this](int index) {
    if (index == int(Tab::Study)) m_study_view->refresh();
  });
}

void MainWindow::refreshQueue() {
  std::vector<QueueItem> items;
  std::map<int64_t, std::string> studies;
  try {
    if (m_store) {
      items = m_store->queueItems();
      for (const StudyRecord& s : m_store->listStudies()) studies[s.id] = s.name;
    }
  } catch (const std::exception& e) {
    showStatus(tr("Could not read the queue: %1").arg(QString::fromUtf8(e.what())), 10000);
  }
  m_queue->setItems(items, studies);
  const bool writable = m_store && !m_store->readOnly();
  m_queue->setRunAvailable(writable && !m_controller->isRunning(),
                           !writable ? tr("The run database is not open for writing")
                                     : tr("A run is training: the queue can start after it"));
}

bool MainWindow::queueExperiment() {
  updateRunAvailability();
  if (!m_queue_button->isEnabled()) {
    showStatus(m_queue_button->toolTip(), 10000);
    return false;
  }
  try {
    const ExperimentConfig config = m_form->config();
    const int64_t item = m_store->enqueue(
        {"", 0, config.name, experimentToJson(config), storedAllocation(config), config.model});
    showStatus(tr("Queued %1 (queue item %2): Run queue in the Runs view trains it")
                   .arg(qs(config.name))
                   .arg(item),
               10000);
  } catch (const std::exception& e) {
    showError(tr("Cannot queue the experiment"), QString::fromUtf8(e.what()));
    return false;
  }
  refreshQueue();
  return true;
}

void MainWindow::setQueueRunning(bool on) {
  m_queue_mode = on && m_store && !m_store->readOnly();
  m_queue->setRunning(m_queue_mode);
  if (m_queue_mode && !m_controller->isRunning()) startNextQueued();
  refreshQueue();
}

void MainWindow::startNextQueued() {
  if (!m_queue_mode || m_controller->isRunning()) return;
  stopFollowing();
  m_train->clearRun();
  m_train->setMessage(tr("Starting the next run of the queue..."));
  m_train->showPreparing(tr("Loading the model and data..."));
  if (!m_controller->startQueued(0, m_db_path)) return;
  m_view_live = true;
  m_live_run = -1;
  updateRunAvailability();
  updateControls();
  refreshQueue();
}

void MainWindow::onQueueEmpty() {
  m_view_live = false;
  m_train->stopPreparing();
  m_train->setMessage(tr("The queue is done: nothing waits."));
  setQueueRunning(false);
  showStatus(tr("The queue is done: nothing waits"), 10000);
  updateRunAvailability();
  updateControls();
}

bool MainWindow::setRunLabels(qint64 id, const std::vector<std::string>& tags,
                              const std::string& note) {
  try {
    if (!m_store) throw std::runtime_error("no run database is open");
    m_store->setTags(id, tags);
    m_store->setNote(id, note);
  } catch (const std::exception& e) {
    showError(tr("Cannot label run #%1").arg(id), QString::fromUtf8(e.what()));
    return false;
  }
  refreshRuns();
  return true;
}

void MainWindow::editRunLabelsDialog(qint64 id) {
  const std::optional<RunRecord> run = storedRun(id);
  if (!run) return;
  widgets::RunLabelDialog dialog(tr("run #%1 %2").arg(id).arg(qs(run->name)), run->tags, run->note,
                                 this);
  if (dialog.exec() == QDialog::Accepted) setRunLabels(id, dialog.tags(), dialog.note());
}

bool MainWindow::addAdviceToStudy(qint64 study, const QString& name, const Allocation& allocation,
                                  const QString& description) {
  try {
    if (!m_store) throw std::runtime_error("no run database is open");
    const StudyAdded added = addVariantToStudy(*m_store, study, name.toStdString(),
                                               allocation.toList(), description.toStdString());
    showStatus(tr("Study #%1: variant %2 (%3) queued for %n seed(s)", nullptr, added.added)
                   .arg(study)
                   .arg(name, qs(allocation.toList())),
               15000);
  } catch (const std::exception& e) {
    showError(tr("Cannot add the proposal to study #%1").arg(study), QString::fromUtf8(e.what()));
    return false;
  }
  refreshQueue();
  m_study_view->refresh();
  return true;
}

void MainWindow::adviseDialog(qint64 id) {
  const std::optional<RunRecord> run = storedRun(id);
  if (!run) return;
  const std::optional<Allocation> allocation = Allocation::fromStoredList(run->allocation);
  ExperimentConfig config;
  try {
    config = parseExperiment(run->config_json, "run " + std::to_string(id));
  } catch (const std::exception& e) {
    showError(tr("Cannot advise from run #%1").arg(id), QString::fromUtf8(e.what()));
    return;
  }
  if (!allocation) return;
  widgets::AdviceDialog dialog(*run, *allocation, m_store->routerStats(id), config.top_k,
                               m_store->listStudies(), this);
  connect(&dialog, &widgets::AdviceDialog::useInDesign, this, [&](const Allocation& proposal) {
    if (!maybeDiscardChanges()) return;
    ExperimentConfig advised = config;
    advised.method = "mola";
    advised.allocation = proposal.toList();
    advised.name = config.name + "-advised";
    m_form->setConfig(advised);
    setSavedExperimentFile(QString());
    dialog.accept();
    showTab(Tab::Design);
  });
  connect(&dialog, &widgets::AdviceDialog::addToStudy, this,
          [&](qint64 study, const QString& name, const Allocation& proposal,
              const QString& description) {
            if (addAdviceToStudy(study, name, proposal, description)) dialog.accept();
          });
  dialog.exec();
}

}  // namespace mola::app
