// SPDX-License-Identifier: GPL-3.0-or-later
// mola-workbench as a program: its command-line options, --screenshot, --routing, usage errors, a
// damaged database, and a database it may only read (as an unprivileged user).
#include <unistd.h>

#include <QFile>
#include <QImage>
#include <QProcess>
#include <QProcessEnvironment>
#include <QTemporaryDir>
#include <QTest>
#include <filesystem>
#include <fstream>

#include "store/run_launch.h"
#include "store/run_store.h"
#include "stored_runs.h"
#include "workbench_window.h"

using mola::RunStatus;
using mola::RunStore;
using mola::test::writeRun;

namespace {
namespace fs = std::filesystem;
}  // namespace

class WorkbenchCliTest : public QObject {
  Q_OBJECT

 private slots:
  void commandLineOptions() {
    QTemporaryDir dir;
    const QString db = dir.filePath(QStringLiteral("runs.sqlite"));
    {
      RunStore store = mola::openRunStore(db.toStdString());
      writeRun(store, "first", "2-4-6-8", 30, 0.5, 0.7);
      writeRun(store, "second", "8-6-4-2", 30, 0.6, 0.6);
    }
    auto run = [&](const QStringList& args, QString* err = nullptr) {
      QProcess p;
      QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
      env.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
      env.insert(QStringLiteral("XDG_CONFIG_HOME"), dir.filePath(QStringLiteral("config")));
      p.setProcessEnvironment(env);
      p.start(QStringLiteral(MOLA_WORKBENCH), args);
      if (!p.waitForFinished(60000)) return -1;
      if (err) *err = QString::fromLocal8Bit(p.readAllStandardError());
      return p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    };
    const QString shot = dir.filePath(QStringLiteral("compare.png"));
    QCOMPARE(run({QStringLiteral("--db"), db, QStringLiteral("--compare"), QStringLiteral("1,2"),
                  QStringLiteral("--screenshot"), shot}),
             0);
    QImage image(shot);
    QCOMPARE(image.size(), QSize(1280, 800));

    const QString train = dir.filePath(QStringLiteral("train.png"));
    QCOMPARE(run({QStringLiteral("--db"), db, QStringLiteral("--open"), QStringLiteral("2"),
                  QStringLiteral("--tab"), QStringLiteral("train"), QStringLiteral("--experiment"),
                  QStringLiteral(MOLA_EXPERIMENTS_DIR "/quickstart.json"),
                  QStringLiteral("--screenshot"), train}),
             0);
    QVERIFY(QFileInfo(train).size() > 0);

    // A database that cannot be written (here: the file and its folder read-only, for a user
    // other than root) opens for browsing instead of failing.
    {
      // /tmp/mola-ro-X/db (read-only, with the database) and /tmp/mola-ro-X/shots (writable).
      char ro_template[] = "/tmp/mola-ro-XXXXXX";
      const fs::path root = mkdtemp(ro_template), ro = root / "db", out_dir = root / "shots";
      fs::create_directories(ro);
      fs::create_directories(out_dir);
      fs::copy_file(db.toStdString(), ro / "runs.sqlite");
      fs::permissions(ro / "runs.sqlite",
                      fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
      const fs::perms read_and_enter = fs::perms::owner_read | fs::perms::owner_exec |
                                       fs::perms::group_read | fs::perms::group_exec |
                                       fs::perms::others_read | fs::perms::others_exec;
      fs::permissions(ro, read_and_enter);
      fs::permissions(root, read_and_enter | fs::perms::owner_write);
      fs::permissions(out_dir, fs::perms::all);
      const QString ro_shot = QString::fromStdString((out_dir / "read-only.png").string());
      QProcess p;
      QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
      env.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
      env.insert(QStringLiteral("XDG_CONFIG_HOME"), QString::fromStdString(out_dir.string()));
      env.insert(QStringLiteral("XDG_RUNTIME_DIR"), QString::fromStdString(out_dir.string()));
      p.setProcessEnvironment(env);
      QStringList args = {QStringLiteral(MOLA_WORKBENCH),
                          QStringLiteral("--db"),
                          QString::fromStdString((ro / "runs.sqlite").string()),
                          QStringLiteral("--tab"),
                          QStringLiteral("runs"),
                          QStringLiteral("--screenshot"),
                          ro_shot};
      if (geteuid() == 0)
        args = QStringList{QStringLiteral("--reuid=65534"), QStringLiteral("--regid=65534"),
                           QStringLiteral("--clear-groups")} +
               args;
      p.start(geteuid() == 0 ? QStringLiteral("setpriv") : args.takeFirst(), args);
      QVERIFY(p.waitForFinished(60000));
      const QString ro_err = QString::fromLocal8Bit(p.readAllStandardError());
      const QSize ro_size = QImage(ro_shot).size();
      fs::permissions(ro, fs::perms::owner_all, fs::perm_options::add);
      fs::remove_all(root);
      QCOMPARE(p.exitCode(), 0);
      QVERIFY2(!ro_err.contains(QStringLiteral("mola-workbench:")), qPrintable(ro_err));
      QCOMPARE(ro_size, QSize(1280, 800));
    }

    // Usage errors name the option; a damaged database still opens the window (with the error).
    QString err;
    QCOMPARE(run({QStringLiteral("--tab"), QStringLiteral("plots")}, &err), 2);
    QVERIFY2(err.contains(QStringLiteral("--tab")) && err.contains(QStringLiteral("plots")),
             qPrintable(err));
    QCOMPARE(run({QStringLiteral("--compare"), QStringLiteral("1,x")}, &err), 2);
    QVERIFY2(err.contains(QStringLiteral("'x'")), qPrintable(err));
    const QString junk = dir.filePath(QStringLiteral("junk.sqlite"));
    {
      QFile f(junk);
      QVERIFY(f.open(QIODevice::WriteOnly));
      f.write("not sqlite");
    }
    QCOMPARE(run({QStringLiteral("--db"), junk, QStringLiteral("--screenshot"),
                  dir.filePath(QStringLiteral("junk.png"))}),
             0);
    QVERIFY(QFileInfo::exists(dir.filePath(QStringLiteral("junk.png"))));
  }

  // --routing traces a run's first question in the Routing dialog (with the real `mola`), and
  // with --screenshot saves the dialog once traced; a run without a checkpoint exits 1 saying why.
  void routingOption() {
    QTemporaryDir dir;
    const QString db = dir.filePath(QStringLiteral("runs.sqlite"));
    const QString trained = mola::test::trainTinyRun(QStringLiteral(MOLA_CLI), dir.path(), db);
    QVERIFY2(trained.isEmpty(), qPrintable(trained));
    {
      RunStore store = RunStore::open(db.toStdString(), false);
      writeRun(store, "no-checkpoint", "2-4-6-8", 10, 0.6, 0.7);  // run 2
    }
    auto run = [&](const QStringList& args, QString* err) {
      QProcess p;
      QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
      env.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
      env.insert(QStringLiteral("XDG_CONFIG_HOME"), dir.filePath(QStringLiteral("config")));
      env.insert(QStringLiteral("MOLA_CLI"), QStringLiteral(MOLA_CLI));
      p.setProcessEnvironment(env);
      p.start(QStringLiteral(MOLA_WORKBENCH), args);
      if (!p.waitForFinished(240000)) return -1;
      *err = QString::fromLocal8Bit(p.readAllStandardError());
      return p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    };
    QString err;
    const QString shot = dir.filePath(QStringLiteral("routing.png"));
    QCOMPARE(run({QStringLiteral("--db"), db, QStringLiteral("--routing"), QStringLiteral("1"),
                  QStringLiteral("--screenshot"), shot},
                 &err),
             0);
    const QImage image(shot);
    QVERIFY2(image.width() >= 600 && image.height() >= 400, qPrintable(err));
    QCOMPARE(run({QStringLiteral("--db"), db, QStringLiteral("--routing"), QStringLiteral("2"),
                  QStringLiteral("--screenshot"), dir.filePath(QStringLiteral("none.png"))},
                 &err),
             1);
    QVERIFY2(err.contains(QStringLiteral("no intact checkpoint")), qPrintable(err));
    QCOMPARE(run({QStringLiteral("--routing"), QStringLiteral("first")}, &err), 2);
    QVERIFY2(err.contains(QStringLiteral("--routing: 'first'")), qPrintable(err));
  }
};

QTEST_MAIN(WorkbenchCliTest)
#include "workbench_cli_test.moc"
