// SPDX-License-Identifier: GPL-3.0-or-later
// MainWindow's experiment file: new, open, save, the recent files, and what "modified" means.
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QMenu>
#include <QSettings>
#include <stdexcept>

#include "experiment/experiment_config.h"
#include "experiment_form.h"
#include "main_window.h"

namespace mola::app {

namespace {

constexpr int kMaxRecent = 8;
const char* const kRecentKey = "recentExperiments";
const char* const kQuickstartResource = ":/experiments/quickstart.json";

}  // namespace

bool MainWindow::maybeDiscardChanges() {
  if (!m_modified) return true;
  const QString name = m_experiment_path.isEmpty() ? tr("the untitled experiment")
                                                   : QFileInfo(m_experiment_path).fileName();
  return confirm(tr("Discard changes"), tr("Discard the unsaved changes to %1?").arg(name));
}

// --- experiments ------------------------------------------------------------------------------

void MainWindow::newExperiment() {
  ExperimentConfig config;
  QFile file(QString::fromLatin1(kQuickstartResource));
  if (file.open(QIODevice::ReadOnly)) {
    try {
      config = parseExperiment(file.readAll().toStdString(), "quickstart.json");
      config.name = "experiment";
    } catch (const std::exception&) {
      config = ExperimentConfig{};
    }
  }
  m_loading_form = true;
  m_form->setConfig(config);
  m_loading_form = false;
  setSavedExperimentFile(QString());
  updateRunAvailability();
}

bool MainWindow::openExperiment(const QString& path) {
  m_loading_form = true;
  const bool ok = m_form->loadFile(path);
  m_loading_form = false;
  if (!ok) {
    showError(tr("Cannot open the experiment"), m_form->errorMessage());
    return false;
  }
  setSavedExperimentFile(QFileInfo(path).absoluteFilePath());
  updateRunAvailability();
  showStatus(tr("Opened %1").arg(m_experiment_path), 5000);
  return true;
}

bool MainWindow::saveExperiment(const QString& path) {
  if (!m_form->saveFile(path)) {
    showError(tr("Cannot save the experiment"), m_form->errorMessage());
    return false;
  }
  setSavedExperimentFile(QFileInfo(path).absoluteFilePath());
  showStatus(tr("Saved %1").arg(m_experiment_path), 5000);
  return true;
}

void MainWindow::saveOrSaveAs() {
  if (m_experiment_path.isEmpty())
    saveAs();
  else
    saveExperiment(m_experiment_path);
}

void MainWindow::saveAs() {
  QString start = m_experiment_path;
  if (start.isEmpty())
    start = QString::fromStdString(m_form->validationMessage().isEmpty()
                                       ? m_form->config().name + ".json"
                                       : std::string("experiment.json"));
  const QString path = QFileDialog::getSaveFileName(this, tr("Save the experiment"), start,
                                                    tr("Experiments (*.json);;All files (*)"));
  if (!path.isEmpty()) saveExperiment(path);
}

void MainWindow::openExperimentDialog() {
  if (!maybeDiscardChanges()) return;
  const QString start =
      m_experiment_path.isEmpty() ? QString() : QFileInfo(m_experiment_path).absolutePath();
  const QString path = QFileDialog::getOpenFileName(this, tr("Open an experiment"), start,
                                                    tr("Experiments (*.json);;All files (*)"));
  if (!path.isEmpty()) openExperiment(path);
}

std::string MainWindow::formSnapshot() const {
  try {
    return experimentToJson(m_form->config());
  } catch (const std::exception&) {
    return {};  // nothing that can be saved: never equal to a saved experiment
  }
}

void MainWindow::setSavedExperimentFile(const QString& path) {
  m_experiment_path = path;
  m_saved_snapshot = formSnapshot();
  m_modified = false;
  if (!path.isEmpty()) addRecent(path);
  updateTitle();
}

QStringList MainWindow::recentExperiments() const {
  return QSettings().value(QLatin1String(kRecentKey)).toStringList();
}

void MainWindow::addRecent(const QString& path) {
  QStringList recent = recentExperiments();
  recent.removeAll(path);
  recent.prepend(path);
  while (recent.size() > kMaxRecent) recent.removeLast();
  QSettings().setValue(QLatin1String(kRecentKey), recent);
  rebuildRecentMenu();
}

void MainWindow::rebuildRecentMenu() {
  m_recent_menu->clear();
  const QStringList recent = recentExperiments();
  for (int i = 0; i < recent.size(); ++i) {
    const QString path = recent[i];
    QAction* a = m_recent_menu->addAction(
        QStringLiteral("&%1  %2").arg(i + 1).arg(QFileInfo(path).fileName()));
    a->setToolTip(path);
    a->setStatusTip(path);
    connect(a, &QAction::triggered, this, [this, path] {
      if (maybeDiscardChanges()) openExperiment(path);
    });
  }
  if (recent.isEmpty()) m_recent_menu->addAction(tr("(none yet)"))->setEnabled(false);
  m_recent_menu->addSeparator();
  m_recent_menu->addAction(tr("Clear the list"), this, [this] {
    QSettings().remove(QLatin1String(kRecentKey));
    rebuildRecentMenu();
  });
}

}  // namespace mola::app
