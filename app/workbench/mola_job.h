// SPDX-License-Identifier: GPL-3.0-or-later
// MolaJob: one `mola` command in a child process (a model loads and runs there, not on the GUI
// thread), its output collected; what RunScorer and RouteTracer start. Torch-free.
#pragma once

#include <QObject>
#include <QProcess>
#include <QString>
#include <QStringList>

namespace mola::app {

class MolaJob : public QObject {
  Q_OBJECT

 public:
  explicit MolaJob(QObject* parent = nullptr);
  ~MolaJob() override;  // a command still running is killed

  // Starts `mola args`; false (nothing started) while another runs. Without a `mola` program
  // finished() reports it, saying that `what` ("Scoring runs with `mola eval --run`") needs one.
  bool start(const QStringList& args, const QString& what);
  bool busy() const { return m_process != nullptr; }

  // The reason a failed `mola` gives on its last line of standard error ("mola: error: ..."
  // without the prefix), or the last line; "could not be started or crashed" for a crash.
  static QString failureOf(const QString& err, bool crashed);

 signals:
  // Standard error as it arrives (progress lines).
  void errorOutput(const QString& chunk);
  // ok: exit code 0, `out` its standard output; else `why` says what went wrong.
  void finished(bool ok, const QString& out, const QString& why);

 private:
  void onOutput();
  void onFinished(int exit_code, QProcess::ExitStatus status);

  QProcess* m_process = nullptr;
  QString m_err, m_out;
};

}  // namespace mola::app
