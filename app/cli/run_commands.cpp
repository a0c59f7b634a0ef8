// SPDX-License-Identifier: GPL-3.0-or-later
// mola train and mola resume: training into the run store, with a progress line and Ctrl-C.
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <optional>

#include "commands.h"
#include "experiment/experiment_config.h"
#include "store/run_launch.h"
#include "store/run_store.h"
#include "store/store_writer.h"
#include "store_args.h"
#include "text.h"
#include "train/trainer.h"
#include "train_runner.h"

namespace mola::cli {

namespace {

namespace fs = std::filesystem;

// The trainer that Ctrl-C stops; set only while a run is in progress.
std::atomic<Trainer*> g_active{nullptr};

extern "C" void onInterrupt(int) {
  if (Trainer* t = g_active.load()) t->requestStop();  // an atomic store: async-signal-safe
}

// Text from the database or a data file, made safe for the terminal.
std::string shown(const std::string& text) {
  return printableText(text);
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

  void preparing(int64_t step, int64_t total) override {
    if (step == 1 || step % 50 == 0 || step == total)
      std::fprintf(stderr, "training the built-in base (first use only): step %lld/%lld\n",
                   static_cast<long long>(step), static_cast<long long>(total));
  }
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
    std::fprintf(stderr, "%s\n", shown(message).c_str());
  }

 private:
  void endLine() {
    if (m_tty) std::fprintf(stderr, "\n");
  }
  bool m_tty;
  int64_t m_first = 0;
};

// Ctrl-C and SIGTERM stop the trainer after its current step (with a checkpoint) while it runs.
class InterruptStopsTrainer {
 public:
  explicit InterruptStopsTrainer(Trainer& trainer) {
    g_active = &trainer;
    struct sigaction sa {};
    sa.sa_handler = onInterrupt;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
  }
  ~InterruptStopsTrainer() {
    g_active = nullptr;
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
  }
  InterruptStopsTrainer(const InterruptStopsTrainer&) = delete;
  InterruptStopsTrainer& operator=(const InterruptStopsTrainer&) = delete;
};

}  // namespace

int runTrainer(RunStore& store, int64_t run, const ExperimentConfig& config,
               const std::optional<CheckpointRecord>& resume) {
  Trainer trainer(config, store.runDirectory(run));
  trainer.setCheckpointIdentity(checkpointIdentity(store, run));
  StoreWriter writer(store, run);
  writer.setNotice([](const std::string& notice) {
    std::fprintf(stderr, "\nrun store: %s\n", shown(notice).c_str());
  });
  ConsoleReporter console;
  trainer.addObserver(&writer);
  trainer.addObserver(&console);
  if (resume) trainer.resumeFrom(resume->path);
  TrainOutcome outcome;
  {
    const InterruptStopsTrainer interrupt(trainer);
    outcome = trainer.run();  // a store that cannot be written throws, after the console's line
  }
  std::printf("run %lld: %s\n", static_cast<long long>(run),
              runStatusName(store.run(run).status).c_str());
  return outcome == TrainOutcome::Completed ? 0 : outcome == TrainOutcome::Stopped ? 130 : 1;
}

int cmdTrain(const Args& args) {
  args.allowOnly({"--db", "--set"});
  if (args.positional.size() != 1) throw UsageError("mola train takes one EXPERIMENT.json");
  ExperimentConfig config = loadExperiment(args.positional[0]);
  for (const std::string& assignment : args.getAll("--set"))
    applyExperimentOverride(config, assignment);
  RunStore store = openStoreToWrite(args);
  const int64_t run = createRunFor(store, config);
  std::cerr << "run " << run << " (" << config.name << ") in " << store.path().string() << "\n";
  return runTrainer(store, run, config, std::nullopt);
}

int cmdResume(const Args& args) {
  args.allowOnly({"--db"});
  if (args.positional.size() != 1) throw UsageError("mola resume takes one RUN_ID");
  const int64_t id = parseRunId(args.positional[0]);
  RunStore store = openStoreToWrite(args);
  const ResumePlan plan = prepareResume(store, id);
  for (const std::string& note : plan.notes) std::cerr << shown(note) << "\n";
  if (plan.checkpoint)
    std::cerr << "resuming run " << id << " from step " << plan.checkpoint->step << " ("
              << plan.checkpoint->path << ")\n";
  else
    std::cerr << "restarting run " << id << " from step 0\n";
  return runTrainer(store, id, plan.config, plan.checkpoint);
}

}  // namespace mola::cli
