// SPDX-License-Identifier: GPL-3.0-or-later
// MainWindow: the workbench's five views (Design, Train, Runs, Compare, Study) over one run
// database, with the menus, the Run action, the run queue and the training controller that
// connect them.
#pragma once

#include <QList>
#include <QMainWindow>
#include <QString>
#include <QStringList>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <utility>

#include "adapters/allocation.h"
#include "run_follower.h"
#include "score_dialog.h"
#include "store/run_store.h"
#include "train/training_observer.h"

class QAction;
class QLabel;
class QMenu;
class QPushButton;
class QTabWidget;
class QTimer;

namespace mola::widgets {
class CompareView;
class ExperimentForm;
class QueuePanel;
class RoutingDialog;
class RunsBrowser;
class StudyView;
}  // namespace mola::widgets

namespace mola::app {

class RouteTracer;
class RunScorer;
class TrainingController;
class TrainView;

class MainWindow : public QMainWindow {
  Q_OBJECT

 public:
  enum class Tab { Design, Train, Runs, Compare, Study };
  // Asks the user a yes/no question (title, text); true means go ahead. Tests answer themselves.
  using Confirmer = std::function<bool(const QString& title, const QString& text)>;

  static constexpr int kRunsRefreshMs = 2000;     // the Runs view re-reads the database
  static constexpr int kFollowIntervalMs = 1000;  // a shown running run is re-read

  // Opens no database: call openDatabase() (main.cpp passes --db or RunStore::defaultPath()).
  explicit MainWindow(QWidget* parent = nullptr);
  // A run in progress is stopped with a checkpoint first.
  ~MainWindow() override;

  // Opens (creating when absent) the run database at `path` on this thread. On failure the
  // store's message (naming the file) is shown, the database already open stays, and false is
  // returned.
  bool openDatabase(const QString& path);
  QString databasePath() const { return m_db_path; }
  bool hasDatabase() const { return m_store.has_value(); }

  // The Design view's experiment file. Errors name the file and leave the form as it was.
  bool openExperiment(const QString& path);
  bool saveExperiment(const QString& path);
  QString experimentPath() const { return m_experiment_path; }
  bool isModified() const { return m_modified; }
  // A new untitled experiment, from the quickstart (a valid, runnable starting point).
  void newExperiment();
  QStringList recentExperiments() const;

  // Trains the Design view's experiment into the open database and shows it in the Train view.
  // False (with the reason shown) when the form is invalid, a run is in progress or no database
  // is open.
  bool runExperiment();
  // Shows stored run `id` in the Train view; a running run keeps updating from the database.
  bool openRun(qint64 id);
  // Fills the Compare view with these runs and shows it.
  bool compareRuns(const QList<qint64>& ids);
  // Deletes the runs from the database and their run directories (no question asked here: the
  // Runs view asks). A run this window is training is refused.
  bool deleteRuns(const QList<qint64>& ids);
  // Writes run `id`'s CSV files (exportRunCsv) into a new folder "<name>-run<id>" inside
  // `folder`; returns that folder, or empty after showing the error.
  QString exportRunCsv(qint64 id, const QString& folder);
  // One PDF of the current view's run (Train) or comparison (Compare): the summary, the scores,
  // the configuration and every plot. Errors are shown; returns whether the file was written.
  bool exportReport(const QString& path);
  QAction* reportAction() const { return m_report_action; }

  // The run queue (in the database): Add to queue puts the Design view's experiment at its end;
  // while the queue runs, the window trains the waiting runs one after another (as
  // `mola queue run`), until none waits, a run is stopped, or it is switched off.
  bool queueExperiment();
  void setQueueRunning(bool on);
  bool isQueueRunning() const { return m_queue_mode; }
  // Writes the run's tags and note (no dialog here: the Runs view's button asks).
  bool setRunLabels(qint64 id, const std::vector<std::string>& tags, const std::string& note);
  // Queues a proposed allocation as one more variant of study `study` (addVariantToStudy).
  bool addAdviceToStudy(qint64 study, const QString& name, const Allocation& allocation,
                        const QString& description);
  // Scores run `id`'s newest intact checkpoint on a benchmark in a `mola eval --run` process (no
  // dialog here: the Runs view's Score... asks); its progress and outcome go to the status bar,
  // the score to the database. While another scoring runs it waits its turn (one process at a
  // time). False, with the reason shown, without a database.
  bool scoreRun(qint64 id, const widgets::ScoreRequest& request);
  RunScorer* scorer() const { return m_scorer; }
  // Routing...: the dialog for run `id` (its first question as the text), with run `compared`
  // beside it when one is given (any run with a checkpoint can be chosen there), and a trace of
  // `text` through the runs' newest checkpoints, each in a `mola route` process of its own. False
  // when the run cannot be read or a trace is already running.
  void showRoutingDialog(qint64 id, qint64 compared = -1);
  bool traceRouting(qint64 id, const QString& text);
  widgets::RoutingDialog* routingDialog() const { return m_routing_dialog; }
  RouteTracer* tracer() const { return m_tracer; }                 // the dialog's first run
  RouteTracer* compareTracer() const { return m_compare_tracer; }  // the run beside it

  void showTab(Tab tab);
  Tab currentTab() const;
  // "design", "train", "runs", "compare", "study" (case-insensitive).
  static std::optional<Tab> tabFromName(const QString& name);

  void setConfirmer(Confirmer confirmer);
  // The last error shown to the user (in a message box and the status bar), empty when none.
  QString lastError() const { return m_last_error; }
  // Every plot drawn now, for screenshots.
  void replotNow();

  widgets::ExperimentForm* form() const { return m_form; }
  TrainView* trainView() const { return m_train; }
  widgets::RunsBrowser* runsBrowser() const { return m_runs; }
  widgets::CompareView* compareView() const { return m_compare; }
  widgets::StudyView* studyView() const { return m_study_view; }
  widgets::QueuePanel* queuePanel() const { return m_queue; }
  QPushButton* queueButton() const { return m_queue_button; }
  TrainingController* controller() const { return m_controller; }
  QTabWidget* tabs() const { return m_tabs; }
  QPushButton* runButton() const { return m_run_button; }
  QLabel* runReason() const { return m_run_reason; }
  QAction* runAction() const { return m_run_action; }
  // The run the controller trains now (-1 when idle or before its row exists).
  qint64 liveRunId() const { return m_live_run; }

 protected:
  void closeEvent(QCloseEvent* event) override;

 private:
  void buildActions();
  void connectController();
  void buildMenus();
  void buildThemeMenu(QMenu* menu);
  QWidget* buildDesignTab();
  // main_window_study.cpp: the Runs tab (runs and queue), the Study view, their connections.
  QWidget* buildRunsTab();
  void connectStudyParts();
  void refreshQueue();
  void startNextQueued();
  void onQueueEmpty();
  void editRunLabelsDialog(qint64 id);
  void adviseDialog(qint64 id);
  void scoreRunDialog(const QList<qint64>& ids);
  void connectScorer();
  void startNextScoring();
  QString waitingText() const;  // " (2 more waiting)" or nothing
  void startTrace(qint64 run, const QString& text);
  void makeRoutingDialog();
  // The runs with a checkpoint, as the routing dialog lists them.
  QList<QPair<qint64, QString>> routingCandidates() const;
  // The Runs view's buttons to the window's actions.
  void connectRunsView();
  // The Compare view re-reads run `id` when it shows it (a new score), staying where it is.
  // refreshTrainScores does the same for the Train view of a run read from the database.
  void refreshComparedRun(qint64 id);
  void refreshTrainScores(qint64 id);
  // Reads run `id` from the store into the Train view (following it while it trains), without
  // changing the tab; false, with the error shown, when it cannot be read.
  bool showStoredRun(qint64 id);
  // A status-bar message for timeout_ms, shortened to fit the bar.
  void showStatus(const QString& text, int timeout_ms);
  void showError(const QString& title, const QString& text);
  bool confirm(const QString& title, const QString& text);
  bool maybeDiscardChanges();
  // The form now matches `path` (empty: an unsaved new experiment): the title, the modified flag
  // and the recent-files menu follow.
  void setSavedExperimentFile(const QString& path);
  std::string formSnapshot() const;
  void addRecent(const QString& path);
  void rebuildRecentMenu();
  void updateTitle();
  void updateRunAvailability();
  void updateControls();
  void refreshRuns();
  void saveOrSaveAs();
  void saveAs();
  void openExperimentDialog();
  void exportRunDialog(qint64 id);
  void exportReportDialog();
  void openDatabaseDialog();

  // Train view: a stored run, followed while it runs.
  void followTick();
  // Shows and follows run `id`, which this window's `mola` processes train (several ranks).
  void followRanks(qint64 id);
  void stopFollowing();
  int64_t totalStepsOf(const RunRecord& record) const;
  std::optional<RunRecord> storedRun(qint64 id) const;
  void onPauseRequested();
  void onResumeRequested();
  void onStopRequested();

  // The controller's signals.
  void onRunCreated(qint64 id);
  void onPreparing(qint64 step, qint64 total);
  void onStarted(qint64 id, const RunStarted& info);
  void onStep(const StepMetrics& metrics);
  void onRouterStats(const RouterStatsSnapshot& snapshot);
  void onEvaluated(const EvalScore& score);
  void onPausedChanged(bool paused);
  void onFailed(const QString& message);
  void onFinished(TrainOutcome outcome, const QString& message);

  std::optional<RunStore> m_store;  // this thread's connection; the trainer opens its own
  QString m_db_path;
  TrainingController* m_controller = nullptr;
  RunScorer* m_scorer = nullptr;
  std::deque<std::pair<qint64, widgets::ScoreRequest>> m_score_queue;  // scorings waiting
  QString m_scoring_benchmark;                                         // of the one running
  RouteTracer* m_tracer = nullptr;
  RouteTracer* m_compare_tracer = nullptr;
  widgets::RoutingDialog* m_routing_dialog = nullptr;
  qint64 m_live_run = -1;
  // The Train view shows the controller's run through its signals (else: from the database).
  bool m_view_live = false;
  std::optional<RunFollower> m_follower;
  QTimer* m_follow_timer = nullptr;
  QTimer* m_refresh_timer = nullptr;

  QString m_experiment_path;
  bool m_modified = false;
  // The experiment as last opened or saved (experimentToJson), to tell a real change from an
  // undone one.
  std::string m_saved_snapshot;
  bool m_loading_form = false;
  Confirmer m_confirmer;
  QString m_last_error;

  QTabWidget* m_tabs = nullptr;
  widgets::ExperimentForm* m_form = nullptr;
  QPushButton* m_run_button = nullptr;
  QLabel* m_run_reason = nullptr;
  TrainView* m_train = nullptr;
  widgets::RunsBrowser* m_runs = nullptr;
  widgets::CompareView* m_compare = nullptr;
  widgets::StudyView* m_study_view = nullptr;
  widgets::QueuePanel* m_queue = nullptr;
  QPushButton* m_queue_button = nullptr;
  bool m_queue_mode = false;  // the window works through the queue
  QLabel* m_db_label = nullptr;

  QAction* m_new_action = nullptr;
  QAction* m_open_action = nullptr;
  QAction* m_save_action = nullptr;
  QAction* m_save_as_action = nullptr;
  QAction* m_open_db_action = nullptr;
  QAction* m_report_action = nullptr;
  QAction* m_quit_action = nullptr;
  QAction* m_run_action = nullptr;
  QAction* m_pause_action = nullptr;
  QAction* m_resume_action = nullptr;
  QAction* m_stop_action = nullptr;
  QMenu* m_recent_menu = nullptr;
};

}  // namespace mola::app
