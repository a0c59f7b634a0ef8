// SPDX-License-Identifier: GPL-3.0-or-later
// MainWindow: the views, the menus and shortcuts, the database connection of the GUI thread, and
// the routing of the controller's signals and the database's new points to the Train view.
#include "main_window.h"

#include <QAction>
#include <QActionGroup>
#include <QApplication>
#include <QCloseEvent>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QIcon>
#include <QLabel>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QStatusBar>
#include <QStyle>
#include <QTabWidget>
#include <QTimer>
#include <QToolBar>
#include <QVBoxLayout>
#include <algorithm>
#include <filesystem>
#include <stdexcept>
#include <utility>

#include "allocation_designer.h"
#include "compare_view.h"
#include "compared_run_loader.h"
#include "experiment/experiment_config.h"
#include "experiment_form.h"
#include "route_tracer.h"
#include "run_scorer.h"
#include "runs_browser.h"
#include "runs_loader.h"
#include "store/run_launch.h"
#include "study_view.h"
#include "theme.h"
#include "train_view.h"
#include "training_controller.h"
#include "training_plots.h"
#include "wheel_guard.h"

// Resources live in this static library: their registration must be called by name, from the
// global namespace.
static void initWorkbenchResources() {
  Q_INIT_RESOURCE(resources);
}

namespace mola::app {

namespace {

// "completed 150 steps; ..." as a sentence: "Completed 150 steps; ..."; a message that does not
// start with the outcome gets it in front ("Completed: ...").
QString outcomeSentence(const QString& outcome, const QString& message) {
  if (message.startsWith(outcome, Qt::CaseInsensitive))
    return message.left(1).toUpper() + message.mid(1);
  return message.isEmpty() ? outcome : outcome + QStringLiteral(": ") + message;
}

namespace fs = std::filesystem;

QString qs(const std::string& s) {
  return QString::fromStdString(s);
}

QIcon tabIcon(const char* name) {
  return QIcon(QStringLiteral(":/icons/%1.svg").arg(QLatin1String(name)));
}

}  // namespace

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
  initWorkbenchResources();
  widgets::WheelGuard::install();
  setWindowIcon(QIcon(QStringLiteral(":/icons/mola.svg")));
  m_controller = new TrainingController(this);
  m_scorer = new RunScorer(this);
  m_tracer = new RouteTracer(this);
  m_compare_tracer = new RouteTracer(this);
  m_confirmer = [this](const QString& title, const QString& text) {
    return QMessageBox::question(this, title, text, QMessageBox::Yes | QMessageBox::Cancel,
                                 QMessageBox::Cancel) == QMessageBox::Yes;
  };

  m_tabs = new QTabWidget(this);
  m_tabs->setDocumentMode(true);
  m_tabs->setIconSize(QSize(20, 20));
  m_tabs->addTab(buildDesignTab(), tabIcon("design"), tr("Design"));
  m_train = new TrainView(this);
  m_tabs->addTab(m_train, tabIcon("train"), tr("Train"));
  m_tabs->addTab(buildRunsTab(), tabIcon("runs"), tr("Runs"));
  m_compare = new widgets::CompareView(this);
  m_tabs->addTab(m_compare, tabIcon("compare"), tr("Compare"));
  m_study_view = new widgets::StudyView(this);
  m_tabs->addTab(m_study_view, tabIcon("study"), tr("Study"));
  m_tabs->setTabToolTip(0, tr("Design an experiment: model, experts per layer, data, training"));
  m_tabs->setTabToolTip(1, tr("The run being trained or opened: progress and live plots"));
  m_tabs->setTabToolTip(2, tr("Every run in the database, and the queue of waiting runs"));
  m_tabs->setTabToolTip(3, tr("Runs side by side"));
  m_tabs->setTabToolTip(4, tr("A study: every variant across seeds, with intervals"));
  setCentralWidget(m_tabs);

  m_db_label = new QLabel(this);
  m_db_label->setTextInteractionFlags(Qt::TextSelectableByMouse);
  statusBar()->addPermanentWidget(m_db_label);

  buildActions();
  buildMenus();

  connectRunsView();
  connectStudyParts();

  connect(m_train, &TrainView::pauseRequested, this, &MainWindow::onPauseRequested);
  connect(m_train, &TrainView::resumeRequested, this, &MainWindow::onResumeRequested);
  connect(m_train, &TrainView::stopRequested, this, &MainWindow::onStopRequested);

  connectController();

  m_follow_timer = new QTimer(this);
  m_follow_timer->setInterval(kFollowIntervalMs);
  connect(m_follow_timer, &QTimer::timeout, this, &MainWindow::followTick);
  m_refresh_timer = new QTimer(this);
  m_refresh_timer->setInterval(kRunsRefreshMs);
  connect(m_refresh_timer, &QTimer::timeout, this, &MainWindow::refreshRuns);
  m_refresh_timer->start();

  connect(m_form, &widgets::ExperimentForm::changed, this, [this] {
    // Modified means: different from the experiment as opened or saved (an edit undone is none).
    if (!m_loading_form && m_modified != (formSnapshot() != m_saved_snapshot)) {
      m_modified = !m_modified;
      updateTitle();
    }
    updateRunAvailability();
  });
  connect(m_tabs, &QTabWidget::currentChanged, this, [this] { updateControls(); });

  QSettings settings;
  if (!restoreGeometry(settings.value(QStringLiteral("geometry")).toByteArray())) resize(1280, 800);
  m_tabs->setCurrentIndex(
      std::clamp(settings.value(QStringLiteral("tab"), 0).toInt(), 0, m_tabs->count() - 1));

  newExperiment();
  rebuildRecentMenu();
  updateTitle();
  updateRunAvailability();
  updateControls();
}

MainWindow::~MainWindow() {
  // The controller (a child) stops its run in its destructor; the follower's store goes after.
  m_follow_timer->stop();
  m_refresh_timer->stop();
  delete m_controller;
  m_controller = nullptr;
}

// The controller's signals: the run it trains, shown live in the Train view.
void MainWindow::connectController() {
  connect(m_controller, &TrainingController::runCreated, this, &MainWindow::onRunCreated);
  connect(m_controller, &TrainingController::preparing, this, &MainWindow::onPreparing);
  connect(m_controller, &TrainingController::started, this, &MainWindow::onStarted);
  connect(m_controller, &TrainingController::step, this, &MainWindow::onStep);
  connect(m_controller, &TrainingController::routerStats, this, &MainWindow::onRouterStats);
  connect(m_controller, &TrainingController::evaluated, this, &MainWindow::onEvaluated);
  connect(m_controller, &TrainingController::pausedChanged, this, &MainWindow::onPausedChanged);
  connect(m_controller, &TrainingController::failed, this, &MainWindow::onFailed);
  connect(m_controller, &TrainingController::notice, this,
          [this](const QString& text) { showStatus(text, 30000); });
  connect(m_controller, &TrainingController::finished, this, &MainWindow::onFinished);
  connect(m_controller, &TrainingController::queueEmpty, this, &MainWindow::onQueueEmpty);
}

// --- building ---------------------------------------------------------------------------------

QWidget* MainWindow::buildDesignTab() {
  auto* page = new QWidget(this);
  auto* layout = new QVBoxLayout(page);
  layout->setContentsMargins(4, 4, 4, 4);
  m_form = new widgets::ExperimentForm(page);
  layout->addWidget(m_form, 1);

  auto* bar = new QHBoxLayout;
  m_run_button = new QPushButton(style()->standardIcon(QStyle::SP_MediaPlay), tr("Run"), page);
  m_run_button->setObjectName(QStringLiteral("runButton"));
  m_run_button->setMinimumSize(140, 36);
  m_run_button->setStyleSheet(
      QStringLiteral("QPushButton { font-weight: bold; font-size: 11pt; padding: 4px 18px; }"
                     "QPushButton:enabled { background: #2e7d32; color: white; "
                     "border: 1px solid #1b5e20; border-radius: 4px; }"
                     "QPushButton:enabled:hover { background: #388e3c; }"
                     "QPushButton:disabled { color: #888888; }"));
  bar->addWidget(m_run_button);
  m_queue_button = new QPushButton(tr("Add to queue"), page);
  m_queue_button->setObjectName(QStringLiteral("queueButton"));
  m_queue_button->setMinimumHeight(36);
  bar->addWidget(m_queue_button);
  m_run_reason = new QLabel(page);
  m_run_reason->setObjectName(QStringLiteral("runReason"));
  m_run_reason->setWordWrap(true);
  m_run_reason->setTextFormat(Qt::PlainText);
  bar->addWidget(m_run_reason, 1);
  layout->addLayout(bar);
  connect(m_run_button, &QPushButton::clicked, this, &MainWindow::runExperiment);
  connect(m_queue_button, &QPushButton::clicked, this, &MainWindow::queueExperiment);
  page->addAction(m_form->designer()->undoAction());
  page->addAction(m_form->designer()->redoAction());
  return page;
}

void MainWindow::buildActions() {
  auto make = [this](const QString& text, const QKeySequence& key, QStyle::StandardPixmap icon) {
    auto* a = new QAction(style()->standardIcon(icon), text, this);
    if (!key.isEmpty()) a->setShortcut(key);
    return a;
  };
  m_new_action = make(tr("&New experiment"), QKeySequence::New, QStyle::SP_FileIcon);
  m_new_action->setToolTip(tr("A new experiment from the quickstart (Ctrl+N)"));
  connect(m_new_action, &QAction::triggered, this, [this] {
    if (maybeDiscardChanges()) newExperiment();
  });
  m_open_action = make(tr("&Open experiment..."), QKeySequence::Open, QStyle::SP_DialogOpenButton);
  m_open_action->setToolTip(tr("Open an experiment JSON file (Ctrl+O)"));
  connect(m_open_action, &QAction::triggered, this, &MainWindow::openExperimentDialog);
  m_save_action = make(tr("&Save"), QKeySequence::Save, QStyle::SP_DialogSaveButton);
  m_save_action->setToolTip(tr("Save the experiment (Ctrl+S)"));
  connect(m_save_action, &QAction::triggered, this, &MainWindow::saveOrSaveAs);
  m_save_as_action = make(tr("Save &As..."), QKeySequence(QStringLiteral("Ctrl+Shift+S")),
                          QStyle::SP_DialogSaveButton);
  connect(m_save_as_action, &QAction::triggered, this, &MainWindow::saveAs);
  m_open_db_action = make(tr("Open &database..."), QKeySequence(QStringLiteral("Ctrl+Shift+O")),
                          QStyle::SP_DirOpenIcon);
  m_open_db_action->setToolTip(tr("Open or create a run database (SQLite)"));
  connect(m_open_db_action, &QAction::triggered, this, &MainWindow::openDatabaseDialog);
  m_report_action = make(tr("Export &report (PDF)..."), QKeySequence(QStringLiteral("Ctrl+P")),
                         QStyle::SP_FileDialogDetailedView);
  m_report_action->setToolTip(
      tr("One PDF of the run in Train or of the runs in Compare: every plot, the scores and the "
         "configuration"));
  connect(m_report_action, &QAction::triggered, this, &MainWindow::exportReportDialog);
  m_quit_action = make(tr("&Quit"), QKeySequence::Quit, QStyle::SP_DialogCloseButton);
  connect(m_quit_action, &QAction::triggered, this, &QWidget::close);

  m_run_action = make(tr("&Run"), QKeySequence(QStringLiteral("Ctrl+R")), QStyle::SP_MediaPlay);
  connect(m_run_action, &QAction::triggered, this, &MainWindow::runExperiment);
  m_pause_action = make(tr("&Pause"), QKeySequence(), QStyle::SP_MediaPause);
  connect(m_pause_action, &QAction::triggered, this, &MainWindow::onPauseRequested);
  m_resume_action = make(tr("R&esume"), QKeySequence(), QStyle::SP_MediaPlay);
  connect(m_resume_action, &QAction::triggered, this, &MainWindow::onResumeRequested);
  m_stop_action = make(tr("&Stop"), QKeySequence(), QStyle::SP_MediaStop);
  connect(m_stop_action, &QAction::triggered, this, &MainWindow::onStopRequested);
}

void MainWindow::buildMenus() {
  QMenu* file = menuBar()->addMenu(tr("&File"));
  file->addAction(m_new_action);
  file->addAction(m_open_action);
  m_recent_menu = file->addMenu(tr("Open &recent"));
  file->addAction(m_save_action);
  file->addAction(m_save_as_action);
  file->addSeparator();
  file->addAction(m_open_db_action);
  file->addSeparator();
  file->addAction(m_report_action);
  file->addSeparator();
  file->addAction(m_quit_action);

  // The allocation's history, from anywhere in the Design view (its actions' shortcuts work
  // wherever the focus is on the page) and from this menu.
  QMenu* edit = menuBar()->addMenu(tr("&Edit"));
  edit->addAction(m_form->designer()->undoAction());
  edit->addAction(m_form->designer()->redoAction());

  QMenu* run = menuBar()->addMenu(tr("&Run"));
  run->addAction(m_run_action);
  run->addAction(m_pause_action);
  run->addAction(m_resume_action);
  run->addAction(m_stop_action);

  QMenu* view = menuBar()->addMenu(tr("&View"));
  const char* const names[] = {"design", "train", "runs", "compare", "study"};
  for (int i = 0; i < 5; ++i) {
    auto* a = view->addAction(tabIcon(names[i]), m_tabs->tabText(i));
    a->setShortcut(QKeySequence(QStringLiteral("Ctrl+%1").arg(i + 1)));
    connect(a, &QAction::triggered, this, [this, i] { m_tabs->setCurrentIndex(i); });
    addAction(a);  // the shortcut works whatever has the focus
  }

  view->addSeparator();
  buildThemeMenu(view->addMenu(tr("&Theme")));

  QMenu* help = menuBar()->addMenu(tr("&Help"));
  help->addAction(tr("&About MoLA Workbench"), this, [this] {
    QMessageBox::about(
        this, tr("About MoLA Workbench"),
        tr("<b>MoLA Workbench</b><br>Mixture-of-LoRA-experts fine-tuning: draw how many experts "
           "each layer gets, train, watch the routers, compare runs.<br><br>The same runs are "
           "available from the command line: <tt>mola runs list --db %1</tt><br><br>"
           "GPL-3.0-or-later.")
            .arg(m_db_path.toHtmlEscaped()));
  });

  QToolBar* tools = addToolBar(tr("Main"));
  tools->setObjectName(QStringLiteral("mainToolBar"));
  tools->setMovable(false);
  tools->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
  tools->addAction(m_new_action);
  tools->addAction(m_open_action);
  tools->addAction(m_save_action);
  tools->addSeparator();
  tools->addAction(m_run_action);
  tools->addAction(m_pause_action);
  tools->addAction(m_resume_action);
  tools->addAction(m_stop_action);
  tools->addSeparator();
  tools->addAction(m_open_db_action);
}

// View > Theme: the desktop's colours, light or dark; remembered, applied at once.
void MainWindow::buildThemeMenu(QMenu* menu) {
  auto* themes = new QActionGroup(this);
  widgets::Theme current = widgets::Theme::System;
  widgets::parseTheme(QSettings().value(QStringLiteral("theme")).toString(), &current);
  for (const auto& [theme, text] : {std::pair{widgets::Theme::System, tr("Follow the &desktop")},
                                    std::pair{widgets::Theme::Light, tr("&Light")},
                                    std::pair{widgets::Theme::Dark, tr("Dar&k")}}) {
    QAction* a = menu->addAction(text);
    a->setCheckable(true);
    a->setChecked(theme == current);
    themes->addAction(a);
    connect(a, &QAction::triggered, this, [theme] {
      QSettings().setValue(QStringLiteral("theme"), widgets::themeName(theme));
      widgets::applyTheme(theme);
    });
  }
}

// --- messages ---------------------------------------------------------------------------------

void MainWindow::showStatus(const QString& text, int timeout_ms) {
  // Shortened to the room beside the database label with an ellipsis (never cut mid-letter); the
  // whole text is the status bar's tooltip.
  QStatusBar* bar = statusBar();
  const QString line = QString(text).replace(QLatin1Char('\n'), QLatin1Char(' '));
  // (Before the window is shown the bar has no width yet: nothing to fit.)
  const int room = bar->width() - m_db_label->width() - 40;
  bar->showMessage(
      isVisible() && room > 80 ? bar->fontMetrics().elidedText(line, Qt::ElideRight, room) : line,
      timeout_ms);
  bar->setToolTip(line);
}

void MainWindow::showError(const QString& title, const QString& text) {
  m_last_error = text;
  showStatus(text, 15000);
  // Not modal: the window (and a run in progress) stays usable behind it.
  auto* box = new QMessageBox(QMessageBox::Warning, title, text, QMessageBox::Ok, this);
  box->setAttribute(Qt::WA_DeleteOnClose);
  box->setWindowModality(Qt::NonModal);
  box->setTextInteractionFlags(Qt::TextSelectableByMouse);
  box->show();
}

bool MainWindow::confirm(const QString& title, const QString& text) {
  return !m_confirmer || m_confirmer(title, text);
}

void MainWindow::setConfirmer(Confirmer confirmer) {
  m_confirmer = std::move(confirmer);
  m_runs->setConfirmer(m_confirmer);
}

void MainWindow::updateTitle() {
  const QString experiment = m_experiment_path.isEmpty() ? tr("untitled experiment")
                                                         : QFileInfo(m_experiment_path).fileName();
  const QString db = m_db_path.isEmpty() ? tr("no database") : m_db_path;
  setWindowTitle(QStringLiteral("%1%2 \u2014 %3 \u2014 MoLA Workbench")
                     .arg(experiment, m_modified ? QStringLiteral("*") : QString(), db));
}

// --- running ----------------------------------------------------------------------------------

void MainWindow::updateRunAvailability() {
  QString reason;
  bool ok = false;
  if (!m_store) {
    reason = tr("No run database is open: File > Open database... (Ctrl+Shift+O).");
  } else if (m_store->readOnly()) {
    reason = tr("The run database %1 is open for reading only: open a writable one to run.")
                 .arg(QFileInfo(m_db_path).fileName());
  } else if (m_controller->isRunning()) {
    reason = tr("Run #%1 is training: wait for it, or stop it in the Train view (Ctrl+2).")
                 .arg(m_live_run > 0 ? QString::number(m_live_run) : QStringLiteral("?"));
  } else if (const QString invalid = m_form->validationMessage(); !invalid.isEmpty()) {
    reason = tr("Cannot run: %1").arg(invalid);
  } else {
    ok = true;
    reason = tr("Run (Ctrl+R) trains into %1; progress and plots appear in the Train view.")
                 .arg(QFileInfo(m_db_path).fileName());
  }
  m_run_button->setEnabled(ok);
  m_run_action->setEnabled(ok);
  m_run_button->setToolTip(reason);
  m_run_action->setToolTip(reason);
  m_run_reason->setText(reason);
  m_run_reason->setStyleSheet(ok ? widgets::successStyle() : widgets::errorStyle());
  // Queueing needs a writable database and a valid form, not an idle trainer.
  const QString invalid = m_form->validationMessage();
  const bool can_queue = m_store && !m_store->readOnly() && invalid.isEmpty();
  m_queue_button->setEnabled(can_queue);
  m_queue_button->setToolTip(
      can_queue ? tr("Put this experiment at the end of the run queue (Runs view, Ctrl+3), to "
                     "train after the runs before it")
      : !invalid.isEmpty() ? tr("Cannot queue: %1").arg(invalid)
                           : reason);
}

bool MainWindow::runExperiment() {
  updateRunAvailability();
  if (!m_run_button->isEnabled()) {
    showStatus(m_run_reason->text(), 10000);
    return false;
  }
  ExperimentConfig config;
  try {
    config = m_form->config();
  } catch (const std::exception& e) {
    showError(tr("Cannot run"), QString::fromUtf8(e.what()));
    return false;
  }
  stopFollowing();
  m_train->clearRun();
  m_train->setMessage(tr("Starting %1...").arg(qs(config.name)));
  m_train->showPreparing(tr("Loading the model and data..."));
  if (!m_controller->start(config, m_db_path)) {
    showError(tr("Cannot run"), tr("Another run is in progress."));
    return false;
  }
  m_view_live = true;
  m_live_run = -1;
  updateRunAvailability();
  updateControls();
  showTab(Tab::Train);
  return true;
}

void MainWindow::onRunCreated(qint64 id) {
  m_live_run = id;
  showStatus(tr("Run #%1 is running").arg(id), 5000);  // not an earlier run's outcome
  if (m_view_live && m_controller->inOtherProcesses()) {
    followRanks(id);
  } else if (m_view_live) {
    if (const auto record = storedRun(id)) {
      m_train->showRun(*record, widgets::RunsRow::fromRecord(*record).allocation,
                       totalStepsOf(*record));
      m_train->setSource(tr("training in this window"));
    }
    m_train->showPreparing(tr("Loading the model and data..."));
  }
  refreshRuns();
  updateRunAvailability();
  updateControls();
}

void MainWindow::onPreparing(qint64 step, qint64 total) {
  if (!m_view_live) return;
  m_train->showPreparing(tr("Preparing the model: training the built-in base (first use only)"),
                         step, total);
  if (step <= 1)
    m_train->setMessage(
        tr("builtin:tiny-pretrained is trained once on a synthetic task and cached "
           "(about a minute on 2 cores); later runs start at once."));
}

void MainWindow::onStarted(qint64 id, const RunStarted& info) {
  m_live_run = id;
  if (m_view_live) {
    if (const auto record = storedRun(id)) {
      m_train->showRun(*record, widgets::RunsRow::fromRecord(*record).allocation, info.total_steps);
    }
    m_train->showStarted(info);
    m_train->setMessage(info.first_step > 0
                            ? tr("Resumed from the checkpoint at step %1.").arg(info.first_step)
                            : tr("Training started."));
  }
  refreshRuns();
  updateControls();
}

void MainWindow::onStep(const StepMetrics& metrics) {
  if (m_view_live) m_train->addStep(metrics);
}

void MainWindow::onRouterStats(const RouterStatsSnapshot& snapshot) {
  if (m_view_live) m_train->addRouterStats(snapshot);
}

void MainWindow::onEvaluated(const EvalScore& score) {
  if (m_view_live) {
    m_train->addScore(score);
    m_train->setMessage(tr("Step %1: accuracy %2 on %3 (n = %4, 95% interval %5 to %6).")
                            .arg(score.step)
                            .arg(score.accuracy, 0, 'f', 3)
                            .arg(qs(score.benchmark))
                            .arg(score.n)
                            .arg(score.ci_low, 0, 'f', 3)
                            .arg(score.ci_high, 0, 'f', 3),
                        TrainView::Tone::Info);
  }
  refreshRuns();
}

void MainWindow::onPausedChanged(bool paused) {
  if (m_view_live) {
    m_train->setSource(paused ? tr("paused") : tr("training in this window"));
    m_train->setMessage(paused ? tr("Paused after the current step: Resume continues.")
                               : tr("Training again."));
  }
  updateControls();
}

void MainWindow::onFailed(const QString& message) {
  const qint64 run = m_controller->runId();
  const QString where = run > 0 ? tr("Run #%1 failed").arg(run) : tr("The run could not start");
  if (m_view_live) {
    m_train->stopPreparing();
    m_train->setMessage(where + QStringLiteral(": ") + message, TrainView::Tone::Error);
  }
  showError(where, message);
}

void MainWindow::onFinished(TrainOutcome outcome, const QString& message) {
  const qint64 run = m_controller->runId();
  m_live_run = -1;
  // This window's run, trained in this process or followed from `mola`'s ranks.
  if (m_view_live || (run > 0 && m_train->runId() == run)) {
    if (const auto record = storedRun(run)) {
      if (m_train->runId() != run)
        m_train->showRun(*record, widgets::RunsRow::fromRecord(*record).allocation,
                         totalStepsOf(*record));
      m_train->setSource(QString());
      m_train->updateRecord(*record);
    } else {
      m_train->clearRun();  // nothing was stored: there is no run to show
    }
    switch (outcome) {
      case TrainOutcome::Completed:
        m_train->setMessage(outcomeSentence(tr("Completed"), message), TrainView::Tone::Success);
        break;
      case TrainOutcome::Stopped:
        m_train->setMessage(tr("%1. Resume continues from this checkpoint.")
                                .arg(outcomeSentence(tr("Stopped"), message)),
                            TrainView::Tone::Warning);
        break;
      case TrainOutcome::Interrupted:
        m_train->setMessage(tr("Interrupted: %1").arg(message), TrainView::Tone::Warning);
        break;
      case TrainOutcome::Failed:
        m_train->setMessage((run > 0 ? tr("Failed (run #%1 is kept, marked failed): %2").arg(run)
                                     : tr("Failed before the run was stored: %1"))
                                .arg(message),
                            TrainView::Tone::Error);
        break;
    }
  }
  m_view_live = false;
  if (m_queue_mode) {
    // A stop ends the queue's work too; a completed or failed run hands over to the next.
    if (outcome == TrainOutcome::Stopped)
      setQueueRunning(false);
    else
      QTimer::singleShot(0, this, &MainWindow::startNextQueued);
  }
  showStatus(outcome == TrainOutcome::Completed ? tr("Run #%1 completed").arg(run)
             : outcome == TrainOutcome::Stopped ? tr("Run #%1 stopped").arg(run)
                                                : tr("Run failed: %1").arg(message),
             10000);
  refreshRuns();
  updateRunAvailability();
  updateControls();
}

void MainWindow::followRanks(qint64 id) {
  m_view_live = false;  // the points come from the database
  openRun(id);
  // Followed from the start, also while a resumed run is still stored as stopped.
  m_follow_timer->start();
  int processes = 0;
  if (const auto record = storedRun(id)) {
    try {
      processes = storedProcesses(*record);
    } catch (const std::exception&) {
    }
  }
  m_train->setSource(tr("%1 processes (mola train --nproc)").arg(processes));
  m_train->setMessage(tr("`mola` trains run #%1 on %2 processes, each on its share of every "
                         "batch; the view follows the database. Stop ends every process after "
                         "the same step, with a checkpoint.")
                          .arg(id)
                          .arg(processes));
}

void MainWindow::updateControls() {
  const bool running = m_controller->isRunning();
  // The controls act on this window's run whether the view gets its points live or reads them
  // back from the database (after the user opened another run and came back).
  const qint64 shown = m_train->runId();
  const bool shows_live = running && (m_view_live || (shown > 0 && shown == m_live_run));
  const bool paused = m_controller->isPaused();
  const RunStatus status = m_train->status();
  const bool resumable =
      !running && shown > 0 && (status == RunStatus::Stopped || status == RunStatus::Interrupted);
  bool can_pause = shows_live && !paused && !m_controller->inOtherProcesses();
  bool can_resume = (shows_live && paused) || resumable;
  bool can_stop = shows_live;
  QString why;
  if (shown <= 0 && !shows_live)
    why = tr("No run is shown");
  else if (!shows_live && status == RunStatus::Running)
    why =
        tr("Another process (e.g. `mola train`) trains this run: stop it there with Ctrl-C; "
           "this view follows it from the database");
  else if (running && !shows_live)
    why = tr("Run #%1 is training; only one run at a time").arg(m_live_run);
  else if (status == RunStatus::Completed)
    why = tr("The run is completed");
  else if (status == RunStatus::Failed)
    why = tr("The run failed: see the message");
  const QString resume_tip = shows_live && paused
                                 ? tr("Continue the paused run")
                                 : tr("Continue this run from its latest checkpoint");
  m_train->setControls(can_pause, can_resume, can_stop, resume_tip, why);
  m_report_action->setEnabled((currentTab() == Tab::Train && shown > 0) ||
                              (currentTab() == Tab::Compare && !m_compare->runs().empty()));
  m_pause_action->setEnabled(can_pause);
  m_resume_action->setEnabled(can_resume);
  m_stop_action->setEnabled(can_stop);
  m_resume_action->setToolTip(can_resume ? resume_tip : why);
}

void MainWindow::onPauseRequested() {
  if (m_controller->isRunning()) m_controller->pause();
}

void MainWindow::onResumeRequested() {
  if (m_controller->isRunning()) {
    if (m_controller->isPaused()) m_controller->resume();
    return;
  }
  const qint64 id = m_train->runId();
  const RunStatus status = m_train->status();
  if (id <= 0 || !m_store || (status != RunStatus::Stopped && status != RunStatus::Interrupted))
    return;
  stopFollowing();
  if (!m_controller->resumeRun(id, m_db_path)) return;
  m_live_run = id;
  if (m_controller->inOtherProcesses()) {
    followRanks(id);
    updateRunAvailability();
    updateControls();
    return;
  }
  m_view_live = true;
  m_train->setSource(tr("training in this window"));
  m_train->showPreparing(tr("Loading the checkpoint..."));
  m_train->setMessage(tr("Resuming run #%1 from its latest checkpoint...").arg(id));
  updateRunAvailability();
  updateControls();
}

void MainWindow::onStopRequested() {
  if (!m_controller->isRunning()) return;
  m_controller->stop();
  if (m_view_live || m_controller->inOtherProcesses())
    m_train->setMessage(tr("Stopping after the current step (a checkpoint is written)..."),
                        TrainView::Tone::Warning);
}

// --- tabs, settings ---------------------------------------------------------------------------

void MainWindow::showTab(Tab tab) {
  m_tabs->setCurrentIndex(int(tab));
}

MainWindow::Tab MainWindow::currentTab() const {
  return Tab(m_tabs->currentIndex());
}

std::optional<MainWindow::Tab> MainWindow::tabFromName(const QString& name) {
  const QString n = name.trimmed().toLower();
  if (n == QLatin1String("design")) return Tab::Design;
  if (n == QLatin1String("train")) return Tab::Train;
  if (n == QLatin1String("runs")) return Tab::Runs;
  if (n == QLatin1String("compare")) return Tab::Compare;
  if (n == QLatin1String("study")) return Tab::Study;
  return std::nullopt;
}

void MainWindow::replotNow() {
  m_train->plots()->replotNow();
}

void MainWindow::closeEvent(QCloseEvent* event) {
  if (m_controller->isRunning() &&
      !confirm(tr("A run is in progress"),
               tr("Run #%1 is training. Stop it (with a checkpoint, so it can be resumed) and "
                  "quit?")
                   .arg(m_live_run))) {
    event->ignore();
    return;
  }
  if (!maybeDiscardChanges()) {
    event->ignore();
    return;
  }
  QSettings settings;
  settings.setValue(QStringLiteral("geometry"), saveGeometry());
  settings.setValue(QStringLiteral("tab"), m_tabs->currentIndex());
  event->accept();
}

}  // namespace mola::app
