// SPDX-License-Identifier: GPL-3.0-or-later
// MainWindow's Routing... dialog: a text through a stored run's newest checkpoint (`mola route
// --serve` in a child process, which keeps the model loaded), and which experts each of its tokens
// goes to; optionally through a second run beside it (a second such process).
#include <QPlainTextEdit>
#include <QPushButton>
#include <algorithm>

#include "data/prompt_template.h"
#include "data/qa_source.h"
#include "experiment/experiment_config.h"
#include "main_window.h"
#include "route_tracer.h"
#include "routing_dialog.h"

namespace mola::app {

namespace {

// The first question of the run's evaluation data (else its training data) as its training saw
// it: the prompt in the run's template, then the answer. Empty when the data cannot be read.
QString firstExampleText(const RunRecord& run) {
  try {
    const ExperimentConfig c = parseExperiment(run.config_json, "run");
    std::vector<DataSpec> sources = {c.eval, c.train};
    for (const TaskSpec& t : c.tasks) sources.insert(sources.end(), {t.eval, t.train});
    for (const DataSpec& d : sources) {
      if (d.path.empty()) continue;
      const QaDataset data = loadQaSource(d.path, d.format, d.split, 1);
      if (data.records.empty()) continue;
      const PromptTemplate tmpl = PromptTemplate::named(c.prompt_template);
      return QString::fromStdString(renderPrompt(data.records.front(), tmpl) +
                                    renderTarget(data.records.front(), tmpl));
    }
  } catch (const std::exception&) {
    // No example then: the user types a text.
  }
  return {};
}

QString routingLabel(const RunRecord& run) {
  return MainWindow::tr("run #%1 (%2)").arg(run.id).arg(QString::fromStdString(run.name));
}

}  // namespace

void MainWindow::makeRoutingDialog() {
  m_routing_dialog = new widgets::RoutingDialog(this);
  connect(m_routing_dialog, &widgets::RoutingDialog::traceRequested, this, &MainWindow::startTrace);
  // No run beside the first: its `mola route` ends, and its model's memory goes back.
  connect(m_routing_dialog, &widgets::RoutingDialog::comparedRunChanged, this, [this](qint64 run) {
    if (run < 0) m_compare_tracer->stop();
  });
  for (RouteTracer* tracer : {m_tracer, m_compare_tracer}) {
    connect(tracer, &RouteTracer::traced, this, [this](qint64 run, const TokenRouting& r) {
      m_routing_dialog->showRouting(run, r);  // a run no longer shown is passed over
    });
    connect(tracer, &RouteTracer::failed, this,
            [this](qint64 run, const QString& why) { m_routing_dialog->showFailure(run, why); });
  }
}

QList<QPair<qint64, QString>> MainWindow::routingCandidates() const {
  QList<QPair<qint64, QString>> out;
  if (!m_store) return out;
  try {
    for (const RunRecord& r : m_store->listRuns())
      if (!m_store->checkpoints(r.id).empty()) out.append({r.id, routingLabel(r)});
  } catch (const std::exception&) {
    // A database that cannot be listed offers no second run.
  }
  return out;
}

void MainWindow::showRoutingDialog(qint64 id, qint64 compared) {
  const std::optional<RunRecord> record = storedRun(id);
  if (!record) {
    showError(tr("Routing"), tr("Run #%1 is not in the database.").arg(id));
    return;
  }
  if (!m_routing_dialog) makeRoutingDialog();
  if (m_routing_dialog->run() != id)
    m_routing_dialog->setRun(id, routingLabel(*record), firstExampleText(*record));
  m_routing_dialog->setCandidates(routingCandidates());
  if (compared >= 0 && !m_routing_dialog->setCompared(compared))
    m_routing_dialog->showFailure(
        tr("run #%1 has no checkpoint to trace beside it, or is not in the database")
            .arg(compared));
  m_routing_dialog->show();
  m_routing_dialog->raise();
  m_routing_dialog->activateWindow();
}

bool MainWindow::traceRouting(qint64 id, const QString& text) {
  showRoutingDialog(id);
  if (!m_routing_dialog || m_routing_dialog->run() != id) return false;
  m_routing_dialog->textEdit()->setPlainText(text);
  m_routing_dialog->traceButton()->click();
  return m_tracer->busy();
}

void MainWindow::startTrace(qint64 run, const QString& text) {
  if (!m_store) {
    m_routing_dialog->showFailure(run, tr("No run database is open."));
    return;
  }
  // The newest checkpoint the store records: a serving `mola route` that loaded an older one is
  // replaced (a run that trains on gets traced as it is now).
  qint64 newest = -1;
  try {
    for (const CheckpointRecord& c : m_store->checkpoints(run))
      newest = std::max<qint64>(newest, c.step);
  } catch (const std::exception&) {
    // `mola route` names what is wrong with the run.
  }
  RouteTracer* tracer = run == m_routing_dialog->run() ? m_tracer : m_compare_tracer;
  if (!tracer->start(run, m_db_path, text, newest))
    m_routing_dialog->showFailure(run, tr("Another trace is running: wait for it."));
}

}  // namespace mola::app
