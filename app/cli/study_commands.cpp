// SPDX-License-Identifier: GPL-3.0-or-later
// mola study run | show | list, mola queue list | run | cancel | move: studies and the run queue.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <set>

#include "advice_support.h"
#include "commands.h"
#include "store/run_launch.h"
#include "store_args.h"
#include "study/study_queue.h"
#include "study/study_report.h"
#include "study/study_spec.h"
#include "text.h"
#include "train_runner.h"

namespace mola::cli {

namespace {

namespace fs = std::filesystem;

std::string shown(const std::string& text) {
  return printableText(text, false);
}

// Queues the study file's runs (new pairs only); the variants in `rerun` lose their runs and
// are queued again as the file says now. Returns the study's id.
int64_t queueStudyFile(RunStore& store, const fs::path& file, const std::vector<std::string>& sets,
                       const std::vector<std::string>& rerun) {
  StudySpec spec = loadStudy(file);
  applyExperimentOverrides(spec.base, sets);
  resolveAdvice(spec, store);
  if (const std::optional<StudyRecord> existing = store.findStudy(spec.name)) {
    for (const std::string& variant : rerun) {
      const int removed = store.removeStudyVariant(existing->id, variant);
      if (removed == 0)
        throw UsageError("--rerun: study '" + spec.name + "' has no variant '" + variant + "'");
      std::cerr << "variant '" << shown(variant) << "': " << removed
                << " run(s) deleted, to be queued again\n";
    }
  }
  const StudyAdded added = queueStudy(store, spec);
  const size_t runs = spec.variants.size() * spec.seeds.size();
  std::cerr << "study " << added.id << " (" << shown(spec.name) << "): " << runs << " runs, "
            << spec.variants.size() << " variants x " << spec.seeds.size() << " seeds; "
            << added.added << " queued now";
  if (added.existing) std::cerr << ", " << added.existing << " queued before";
  std::cerr << "\n";
  return added.id;
}

// The next started run of the study to continue (interrupted or stopped; failed too when
// `retry_failed`), not tried yet by this process.
std::optional<QueueItem> nextToResume(const RunStore& store, int64_t study, bool retry_failed,
                                      const std::set<int64_t>& tried) {
  for (const QueueItem& item : store.queueItems(study)) {
    if (item.state != QueueState::Started || item.run == 0 || tried.count(item.id)) continue;
    const RunStatus s = store.run(item.run).status;
    if (s == RunStatus::Interrupted || s == RunStatus::Stopped ||
        (retry_failed && s == RunStatus::Failed))
      return item;
  }
  return std::nullopt;
}

struct Progress {
  int done = 0, failed = 0;
};

// Trains the study's unfinished runs one after another (study 0: the whole queue). Returns the
// exit status: 130 when a run was stopped (the rest stay queued).
int workThroughQueue(RunStore& store, int64_t study, bool retry_failed) {
  std::set<int64_t> tried;
  Progress progress;
  for (;;) {
    int rc = 0;
    if (std::optional<QueueItem> item = nextToResume(store, study, retry_failed, tried)) {
      tried.insert(item->id);
      ResumePlan plan;
      try {
        plan = prepareResume(store, item->run);
      } catch (const StoreError& e) {
        std::cerr << "skipping run " << item->run << ": " << shown(e.what()) << "\n";
        continue;
      }
      for (const std::string& note : plan.notes) std::cerr << shown(note) << "\n";
      std::cerr << "\n== continuing run " << item->run << " (" << shown(item->name) << ")\n";
      rc = runTrainer(store, item->run, plan.config, plan.checkpoint);
    } else if (auto next = store.startNextQueued(study)) {
      tried.insert(next->first);
      const RunRecord run = store.run(next->second);
      std::cerr << "\n== run " << run.id << " (" << shown(run.name) << ")\n";
      rc = runTrainer(store, run.id,
                      parseExperiment(run.config_json, "run " + std::to_string(run.id)),
                      std::nullopt);
    } else {
      break;
    }
    if (rc == 130) {
      std::cerr << "stopped: the rest of the queue waits; run the same command again to go on\n";
      return 130;
    }
    ++(rc == 0 ? progress.done : progress.failed);
  }
  std::cerr << "queue done: " << progress.done << " run(s) completed, " << progress.failed
            << " failed in this session\n";
  return progress.failed > 0 ? 1 : 0;
}

void printSummary(const RunStore& store, int64_t study) {
  const StudySummary s = summarizeStudy(store, study);
  std::printf("%s", studyTable(s, TableFormat::Text).c_str());
}

int studyRun(const Args& args) {
  args.allowOnly({"--db", "--set", "--rerun", "--retry-failed"});
  if (args.positional.size() != 1)
    throw UsageError("mola study run takes one STUDY.json (or a queued study's id or name)");
  RunStore store = openStoreToWrite(args);
  const std::string& target = args.positional[0];
  int64_t id = 0;
  if (fs::exists(target) || target.ends_with(".json")) {
    id = queueStudyFile(store, target, args.getAll("--set"), args.getAll("--rerun"));
  } else {
    if (!args.getAll("--set").empty() || !args.getAll("--rerun").empty())
      throw UsageError("--set and --rerun apply to a study file, not to a queued study");
    id = findStudy(store, target).id;
  }
  const int rc = workThroughQueue(store, id, args.get("--retry-failed").has_value());
  if (rc != 130) printSummary(store, id);
  return rc;
}

int studyAdd(const Args& args) {
  args.allowOnly({"--db", "--set", "--rerun"});
  if (args.positional.size() != 1) throw UsageError("mola study add takes one STUDY.json");
  RunStore store = openStoreToWrite(args);
  const int64_t id =
      queueStudyFile(store, args.positional[0], args.getAll("--set"), args.getAll("--rerun"));
  std::printf("study %lld queued; train it with: mola study run %lld (or mola queue run)\n",
              static_cast<long long>(id), static_cast<long long>(id));
  return 0;
}

int studyShow(const Args& args) {
  args.allowOnly({"--db", "--baseline", "--csv", "--latex", "--markdown", "--runs"});
  if (args.positional.size() != 1) throw UsageError("mola study show takes one study id or name");
  const RunStore store = openStoreToRead(args);
  const StudyRecord study = findStudy(store, args.positional[0]);
  const StudySummary s = summarizeStudy(store, study.id, args.get("--baseline", ""));
  if (args.get("--csv")) return std::printf("%s", studyTable(s, TableFormat::Csv).c_str()), 0;
  if (args.get("--latex")) return std::printf("%s", studyTable(s, TableFormat::Latex).c_str()), 0;
  if (args.get("--markdown"))
    return std::printf("%s", studyTable(s, TableFormat::Markdown).c_str()), 0;
  int waiting = 0, done = 0;
  for (const StudyRunResult& r : s.runs)
    waiting += r.state == "waiting", done += r.state == "completed";
  std::printf("study %lld: %s (created %s)\n", static_cast<long long>(study.id),
              shown(study.name).c_str(), study.created_at.c_str());
  std::printf(
      "%zu runs: %d completed, %d waiting; accuracy on %s (n %lld), over completed runs "
      "only; intervals are 95%% Student-t across seeds; the difference is paired by seed "
      "(paired t-test p)\n\n",
      s.runs.size(), done, waiting, s.benchmark.empty() ? "-" : shown(s.benchmark).c_str(),
      static_cast<long long>(s.eval_n));
  std::printf("%s", studyTable(s, TableFormat::Text).c_str());
  if (args.get("--runs")) std::printf("\n%s", studyRunsTable(s).c_str());
  return 0;
}

int studyList(const Args& args) {
  args.allowOnly({"--db"});
  const RunStore store = openStoreToRead(args);
  std::printf("%5s  %-32s  %8s  %9s  %7s  %s\n", "id", "name", "variants", "completed", "waiting",
              "created");
  for (const StudyRecord& s : store.listStudies()) {
    std::set<std::string> variants;
    int waiting = 0, completed = 0;
    for (const QueueItem& q : store.queueItems(s.id)) {
      variants.insert(q.variant);
      waiting += q.state == QueueState::Waiting;
      if (q.run && store.run(q.run).status == RunStatus::Completed) ++completed;
    }
    std::printf("%5lld  %s  %8zu  %9d  %7d  %s\n", static_cast<long long>(s.id),
                textColumn(shown(s.name), 32).c_str(), variants.size(), completed, waiting,
                s.created_at.c_str());
  }
  return 0;
}

int queueList(const Args& args) {
  args.allowOnly({"--db", "--all"});
  const RunStore store = openStoreToRead(args);
  std::printf("%5s  %-9s  %5s  %s\n", "item", "state", "run", "name");
  for (const QueueItem& q : store.queueItems()) {
    if (q.state != QueueState::Waiting && !args.get("--all")) continue;
    std::printf("%5lld  %-9s  %5s  %s\n", static_cast<long long>(q.id),
                queueStateName(q.state).c_str(), q.run ? std::to_string(q.run).c_str() : "-",
                shown(q.name).c_str());
  }
  return 0;
}

int queueCommand(const Args& args, const std::string& sub) {
  if (sub == "list") return queueList(args);
  if (sub == "run") {
    args.allowOnly({"--db", "--retry-failed"});
    RunStore store = openStoreToWrite(args);
    return workThroughQueue(store, 0, args.get("--retry-failed").has_value());
  }
  if (sub == "cancel" || sub == "move") {
    args.allowOnly({"--db", "--before"});
    if (args.positional.size() != 1) throw UsageError("mola queue " + sub + " takes one ITEM");
    RunStore store = openStoreToWrite(args);
    const int64_t item = parseRunId(args.positional[0]);
    if (sub == "cancel") {
      store.cancelQueued(item);
      std::printf("queue item %lld cancelled\n", static_cast<long long>(item));
    } else {
      const auto before = args.get("--before");
      store.moveQueued(item, before ? parseRunId(*before) : 0);
      std::printf("queue item %lld moved\n", static_cast<long long>(item));
    }
    return 0;
  }
  throw UsageError("mola queue expects list, run, cancel or move");
}

}  // namespace

int cmdStudy(const Args& args, const std::string& sub) {
  if (sub == "run") return studyRun(args);
  if (sub == "add") return studyAdd(args);
  if (sub == "show") return studyShow(args);
  if (sub == "list") return studyList(args);
  throw UsageError("mola study expects run, add, show or list");
}

int cmdQueue(const Args& args, const std::string& sub) {
  return queueCommand(args, sub);
}

}  // namespace mola::cli
