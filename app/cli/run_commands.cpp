// SPDX-License-Identifier: GPL-3.0-or-later
// mola train, mola resume and mola runs: training into the run store, and reading it back.
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "commands.h"
#include "experiment/experiment_config.h"
#include "store/run_launch.h"
#include "store/run_store.h"
#include "store/store_writer.h"
#include "train/trainer.h"

namespace mola::cli {

namespace {

namespace fs = std::filesystem;

// The trainer that Ctrl-C stops; set only while a run is in progress.
std::atomic<Trainer*> g_active{nullptr};

extern "C" void onInterrupt(int) {
  if (Trainer* t = g_active.load()) t->requestStop();  // an atomic store: async-signal-safe
}

RunStore openStore(const Args& args) {
  const fs::path path = args.get("--db") ? fs::path(*args.get("--db")) : RunStore::defaultPath();
  int interrupted = 0;
  RunStore store = openRunStore(path, &interrupted);
  if (interrupted > 0)
    std::cerr << interrupted
              << " run(s) left running by a process that has gone are marked interrupted\n";
  return store;
}

std::string clockText(double seconds) {
  const long s = std::lround(std::max(0.0, seconds));
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  return buf;
}

// The progress line: rewritten in place on a terminal, plain lines (every 10 steps) when piped.
class ConsoleReporter : public TrainingObserver {
 public:
  ConsoleReporter() : m_tty(isatty(STDERR_FILENO)) {}

  void runStarted(const RunStarted& s) override {
    m_first = s.first_step;
    std::fprintf(stderr, "training %lld steps on %s: %s trainable parameters, %lld examples",
                 static_cast<long long>(s.total_steps - s.first_step), s.device.c_str(),
                 thousands(s.trainable_parameters).c_str(),
                 static_cast<long long>(s.train_examples));
    if (s.truncated_examples)
      std::fprintf(stderr, " (%lld cut to the cutoff)",
                   static_cast<long long>(s.truncated_examples));
    std::fprintf(stderr, "\n");
  }
  void stepFinished(const StepMetrics& m) override {
    const double done = double(m.step - m_first), left = double(m.total_steps - m.step);
    const double eta = done > 0 ? m.elapsed_s / done * left : 0.0;
    char line[200];
    std::snprintf(line, sizeof line,
                  "step %lld/%lld  loss %.4f  balance %.4f  lr %.2e  %.0f tok/s  ETA %s",
                  static_cast<long long>(m.step), static_cast<long long>(m.total_steps), m.loss,
                  m.balance_loss, m.lr, m.tokens_per_s, clockText(eta).c_str());
    if (m_tty)
      std::fprintf(stderr, "\r%s\033[K", line);
    else if (m.step % 10 == 0 || m.step == m.total_steps || m.step == m_first + 1)
      std::fprintf(stderr, "%s\n", line);
  }
  void evaluated(const EvalReport& e) override {
    endLine();
    std::fprintf(stderr, "eval at step %lld on %s: accuracy %.4f (95%% CI %.4f-%.4f, n %lld)\n",
                 static_cast<long long>(e.step), e.benchmark.c_str(), e.accuracy, e.ci_low,
                 e.ci_high, static_cast<long long>(e.n));
  }
  void checkpointSaved(int64_t step, const std::string& dir) override {
    endLine();
    std::fprintf(stderr, "checkpoint at step %lld: %s\n", static_cast<long long>(step),
                 dir.c_str());
  }
  void finished(TrainOutcome, const std::string& message) override {
    endLine();
    std::fprintf(stderr, "%s\n", message.c_str());
  }

 private:
  void endLine() {
    if (m_tty) std::fprintf(stderr, "\n");
  }
  bool m_tty;
  int64_t m_first = 0;
};

int runTrainer(RunStore& store, int64_t run, const ExperimentConfig& config,
               const fs::path& resume) {
  Trainer trainer(config, runDirectory(store, run));
  StoreWriter writer(store, run);
  ConsoleReporter console;
  trainer.addObserver(&writer);
  trainer.addObserver(&console);
  if (!resume.empty()) trainer.resumeFrom(resume);
  g_active = &trainer;
  struct sigaction sa {};
  sa.sa_handler = onInterrupt;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  const TrainOutcome outcome = trainer.run();
  g_active = nullptr;
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  std::printf("run %lld: %s\n", static_cast<long long>(run),
              runStatusName(store.run(run).status).c_str());
  return outcome == TrainOutcome::Completed ? 0 : outcome == TrainOutcome::Stopped ? 130 : 1;
}

// "a.b.c" -> value, for every leaf of a JSON document.
void flatten(const nlohmann::json& j, const std::string& prefix,
             std::map<std::string, std::string>& out) {
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) flatten(v, prefix.empty() ? k : prefix + "." + k, out);
  } else {
    out[prefix] = j.is_string() ? j.get<std::string>() : j.dump();
  }
}

int64_t runId(const std::string& text) {
  try {
    size_t used = 0;
    const long long id = std::stoll(text, &used);
    if (used == text.size() && id > 0) return id;
  } catch (const std::exception&) {
  }
  throw UsageError("'" + text + "' is not a run id");
}

std::string finalScore(const RunStore& store, int64_t run) {
  const auto scores = store.evalScores(run);
  if (scores.empty()) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.4f", scores.back().accuracy);
  return buf;
}

std::string finalLoss(const RunStore& store, int64_t run) {
  const auto loss = store.metrics(run, "loss");
  if (loss.empty()) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.4f", loss.back().value);
  return buf;
}

}  // namespace

int cmdTrain(const Args& args) {
  args.allowOnly({"--db", "--set"});
  if (args.positional.size() != 1) throw UsageError("mola train takes one EXPERIMENT.json");
  ExperimentConfig config = loadExperiment(args.positional[0]);
  for (const std::string& assignment : args.getAll("--set"))
    applyExperimentOverride(config, assignment);
  RunStore store = openStore(args);
  const int64_t run = createRunFor(store, config);
  std::cerr << "run " << run << " (" << config.name << ") in " << store.path().string() << "\n";
  return runTrainer(store, run, config, {});
}

int cmdResume(const Args& args) {
  args.allowOnly({"--db"});
  if (args.positional.size() != 1) throw UsageError("mola resume takes one RUN_ID");
  const int64_t id = runId(args.positional[0]);
  RunStore store = openStore(args);
  const ResumePlan plan = prepareResume(store, id);
  std::cerr << "resuming run " << id << " from step " << plan.checkpoint.step << " ("
            << plan.checkpoint.path << ")\n";
  return runTrainer(store, id, plan.config, plan.checkpoint.path);
}

int cmdRuns(const Args& args, const std::string& sub) {
  if (sub == "list") {
    args.allowOnly({"--db"});
    RunStore store = openStore(args);
    std::printf("%5s  %-24s  %-11s  %7s  %-18s  %8s  %8s  %s\n", "id", "name", "status", "steps",
                "allocation", "loss", "score", "created");
    for (const RunRecord& r : store.listRuns())
      std::printf("%5lld  %-24.24s  %-11s  %7lld  %-18.18s  %8s  %8s  %s\n",
                  static_cast<long long>(r.id), r.name.c_str(), runStatusName(r.status).c_str(),
                  static_cast<long long>(r.last_step), r.allocation.c_str(),
                  finalLoss(store, r.id).c_str(), finalScore(store, r.id).c_str(),
                  r.created_at.c_str());
    return 0;
  }
  if (sub == "show") {
    args.allowOnly({"--db"});
    if (args.positional.size() != 1) throw UsageError("mola runs show takes one RUN_ID");
    RunStore store = openStore(args);
    const RunRecord r = store.run(runId(args.positional[0]));
    std::printf(
        "run %lld: %s\nstatus: %s%s%s\ncreated: %s\nfinished: %s\nmodel: %s\nallocation: %s\n"
        "host: %s\nsteps: %lld\nfinal loss: %s\n",
        static_cast<long long>(r.id), r.name.c_str(), runStatusName(r.status).c_str(),
        r.message.empty() ? "" : " - ", r.message.c_str(), r.created_at.c_str(),
        r.finished_at.empty() ? "-" : r.finished_at.c_str(), r.model.c_str(), r.allocation.c_str(),
        r.host.c_str(), static_cast<long long>(r.last_step), finalLoss(store, r.id).c_str());
    for (const EvalScore& s : store.evalScores(r.id))
      std::printf("eval at step %lld: %s %s accuracy %.4f (95%% CI %.4f-%.4f, n %lld)\n",
                  static_cast<long long>(s.step), s.benchmark.c_str(), s.protocol.c_str(),
                  s.accuracy, s.ci_low, s.ci_high, static_cast<long long>(s.n));
    for (const CheckpointRecord& c : store.checkpoints(r.id))
      std::printf("checkpoint at step %lld: %s\n", static_cast<long long>(c.step), c.path.c_str());
    std::printf("config:\n%s\n", r.config_json.c_str());
    return 0;
  }
  if (sub == "compare") {
    args.allowOnly({"--db"});
    if (args.positional.size() < 2) throw UsageError("mola runs compare takes two or more RUN_IDs");
    RunStore store = openStore(args);
    std::vector<RunRecord> runs;
    std::vector<std::map<std::string, std::string>> configs;
    std::set<std::string> keys;
    for (const std::string& id : args.positional) {
      runs.push_back(store.run(runId(id)));
      configs.emplace_back();
      flatten(nlohmann::json::parse(runs.back().config_json), "", configs.back());
      for (const auto& [k, v] : configs.back()) keys.insert(k);
    }
    std::printf("  %-34s", "key");
    for (const RunRecord& r : runs) std::printf("  %-22s", ("run " + std::to_string(r.id)).c_str());
    std::printf("\n");
    for (const std::string& k : keys) {
      std::set<std::string> values;
      for (const auto& c : configs) values.insert(c.count(k) ? c.at(k) : "-");
      std::printf("%c %-34s", values.size() > 1 ? '*' : ' ', k.c_str());
      for (const auto& c : configs) std::printf("  %-22.22s", c.count(k) ? c.at(k).c_str() : "-");
      std::printf("\n");
    }
    std::printf("  %-34s", "status");
    for (const RunRecord& r : runs) std::printf("  %-22s", runStatusName(r.status).c_str());
    std::printf("\n  %-34s", "final loss");
    for (const RunRecord& r : runs) std::printf("  %-22s", finalLoss(store, r.id).c_str());
    std::printf("\n  %-34s", "final score");
    for (const RunRecord& r : runs) std::printf("  %-22s", finalScore(store, r.id).c_str());
    std::printf("\n(* marks keys whose values differ)\n");
    return 0;
  }
  if (sub == "export") {
    args.allowOnly({"--db", "--csv"});
    if (args.positional.size() != 1 || !args.get("--csv"))
      throw UsageError("mola runs export takes RUN_ID --csv DIR");
    RunStore store = openStore(args);
    const int64_t id = runId(args.positional[0]);
    store.run(id);  // errors on an unknown id before anything is written
    const fs::path dir = *args.get("--csv");
    fs::create_directories(dir);
    auto open = [&](const char* name) {
      std::ofstream f(dir / name);
      if (!f) throw std::runtime_error((dir / name).string() + ": cannot write");
      return f;
    };
    {
      std::ofstream f = open("metrics.csv");
      f << "step,name,value\n";
      for (const MetricPoint& m : store.metrics(id))
        f << m.step << ',' << m.name << ',' << m.value << '\n';
    }
    {
      std::ofstream f = open("router_stats.csv");
      f << "step,layer,expert,token_fraction,mean_probability,entropy,load_cv\n";
      for (const RouterStatsSnapshot& s : store.routerStats(id))
        for (const LayerRouterStats& l : s.layers)
          for (size_t i = 0; i < l.token_fraction.size(); ++i)
            f << s.step << ',' << l.layer << ',' << i << ',' << l.token_fraction[i] << ','
              << l.mean_probability[i] << ',' << l.entropy << ',' << l.load_cv << '\n';
    }
    {
      std::ofstream f = open("eval_scores.csv");
      f << "step,benchmark,split,protocol,accuracy,n,ci_low,ci_high\n";
      for (const EvalScore& s : store.evalScores(id))
        f << s.step << ',' << s.benchmark << ',' << s.split << ',' << s.protocol << ','
          << s.accuracy << ',' << s.n << ',' << s.ci_low << ',' << s.ci_high << '\n';
    }
    std::printf("wrote metrics.csv, router_stats.csv, eval_scores.csv to %s\n",
                dir.string().c_str());
    return 0;
  }
  if (sub == "delete") {
    args.allowOnly({"--db"});
    if (args.positional.size() != 1) throw UsageError("mola runs delete takes one RUN_ID");
    RunStore store = openStore(args);
    const int64_t id = runId(args.positional[0]);
    store.run(id);
    store.deleteRun(id);
    fs::remove_all(runDirectory(store, id));
    std::printf("deleted run %lld\n", static_cast<long long>(id));
    return 0;
  }
  throw UsageError("mola runs expects list, show, compare, export or delete");
}

}  // namespace mola::cli
