// SPDX-License-Identifier: GPL-3.0-or-later
// mola train and mola resume: training into the run store, with a progress line and Ctrl-C.
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <optional>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "dist/dist_env.h"
#include "dist/rank_group.h"
#include "experiment/experiment_config.h"
#include "model/checkpoint_loader.h"
#include "rank_launcher.h"
#include "store/run_launch.h"
#include "store/run_lease.h"
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
    m_routed = s.routed;
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
    // The balance loss only where there are routers (plain LoRA, MOELoRA and full fine-tuning
    // have none).
    char balance[40] = "";
    if (m_routed) std::snprintf(balance, sizeof balance, "  balance %.4f", m.balance_loss);
    char memory[40] = "";
    if (m.peak_mem_mb >= 0)
      std::snprintf(memory, sizeof memory, "  mem %.1f GiB", m.peak_mem_mb / 1024);
    char line[280];
    std::snprintf(line, sizeof line,
                  "step %lld/%lld  loss %.4f%s  lr %.2e  %.0f tok/s  pad %.0f%%%s  ETA %s",
                  static_cast<long long>(m.step), static_cast<long long>(m.total_steps), m.loss,
                  balance, m.lr, m.tokens_per_s, 100 * m.padding, memory, clockText(eta).c_str());
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
  bool m_routed = false;
};

// A rank other than 0 says only how it ended, when not completed (rank 0 tells the rest).
class RankReporter : public TrainingObserver {
 public:
  explicit RankReporter(int rank) : m_rank(rank) {}
  void finished(TrainOutcome outcome, const std::string& message) override {
    if (outcome != TrainOutcome::Completed && outcome != TrainOutcome::Stopped)
      std::fprintf(stderr, "rank %d: %s\n", m_rank, shown(message).c_str());
  }

 private:
  int m_rank;
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

int exitStatus(TrainOutcome outcome) {
  return outcome == TrainOutcome::Completed ? 0 : outcome == TrainOutcome::Stopped ? 130 : 1;
}

// How long a rank waits for the others (to meet, and in a collective).
std::chrono::seconds rankTimeout() {
  const char* s = std::getenv("MOLA_DIST_TIMEOUT_S");
  return std::chrono::seconds(s && std::atoi(s) > 0 ? std::atoi(s) : 1800);
}

// What rank 0 hands the other ranks: the run, its folder and identity, the experiment, and the
// checkpoint to resume from ("" for none); or the error that kept it from starting.
nlohmann::json launchDocument(RunStore& store, int64_t run, const ExperimentConfig& config,
                              const std::optional<CheckpointRecord>& resume) {
  const CheckpointIdentity id = checkpointIdentity(store, run);
  return {{"run", run},
          {"run_dir", store.runDirectory(run).string()},
          {"store_id", id.store_id},
          {"config", experimentToJson(config)},
          {"resume", resume ? resume->path : std::string()}};
}

// This rank's line of the run's host record.
std::string rankHostLine(const DistEnv& env, const ExperimentConfig& config) {
  c10::Device device = deviceFromName(config.device);
  if (device.is_cuda()) device = c10::Device(c10::kCUDA, c10::DeviceIndex(env.local_rank));
  return "rank " + std::to_string(env.rank) + ": " + store_detail::hostName() + " (pid " +
         std::to_string(getpid()) + "), " + device.str();
}

// Rank 0 of a data-parallel run: `prepare` opens the store and creates or claims the run; the
// others hear of it through the group's store. Errors before training reach every rank.
int trainAsRankZero(RankGroup& group, const std::function<RankPlan()>& prepare) {
  RankPlan plan;
  try {
    plan = prepare();
    if (plan.config.processes != group.size())
      throw std::invalid_argument("run " + std::to_string(plan.run) + " was trained by " +
                                  std::to_string(plan.config.processes) +
                                  " processes; resume it with that many, not " +
                                  std::to_string(group.size()));
  } catch (const std::exception& e) {
    group.publish("launch", nlohmann::json{{"error", e.what()}}.dump());
    throw;
  }
  group.publish("launch", launchDocument(*plan.store, plan.run, plan.config, plan.resume).dump());
  group.startBackend(deviceFromName(plan.config.device));
  std::string hosts =
      store_detail::hostDescription() + "\n" + std::to_string(group.size()) + " processes:";
  for (const std::string& line : group.gatherText("host", rankHostLine(group.env(), plan.config)))
    hosts += "\n" + line;
  plan.store->setHost(plan.run, hosts);
  const int status = runTrainer(*plan.store, plan.run, plan.config, plan.resume, &group);
  group.close();
  return status;
}

int trainAsOtherRank(RankGroup& group) {
  const nlohmann::json launch = nlohmann::json::parse(group.fetch("launch"));
  if (launch.contains("error"))
    throw std::runtime_error("rank 0 could not start the run: " +
                             launch["error"].get<std::string>());
  const ExperimentConfig config = parseExperiment(launch["config"].get<std::string>(), "rank 0");
  group.startBackend(deviceFromName(config.device));
  group.gatherText("host", rankHostLine(group.env(), config));
  Trainer trainer(config, launch["run_dir"].get<std::string>());
  trainer.setCheckpointIdentity(
      {launch["store_id"].get<std::string>(), launch["run"].get<int64_t>()});
  if (const std::string resume = launch["resume"]; !resume.empty()) trainer.resumeFrom(resume);
  trainer.setRankGroup(&group);
  RankReporter reporter(group.rank());
  trainer.addObserver(&reporter);
  TrainOutcome outcome;
  {
    const InterruptStopsTrainer interrupt(trainer);
    outcome = trainer.run();
  }
  group.close();
  return exitStatus(outcome);
}

}  // namespace

int runTrainer(RunStore& store, int64_t run, const ExperimentConfig& config,
               const std::optional<CheckpointRecord>& resume, RankGroup* group) {
  Trainer trainer(config, store.runDirectory(run));
  trainer.setCheckpointIdentity(checkpointIdentity(store, run));
  trainer.setRankGroup(group);
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
  return exitStatus(outcome);
}

int trainAsRank(const DistEnv& env, const std::function<RankPlan()>& prepare) {
  RankGroup group(env, rankTimeout());
  return env.rank == 0 ? trainAsRankZero(group, prepare) : trainAsOtherRank(group);
}

// --nproc N: how many processes train (the experiment's training.processes otherwise).
static std::optional<int> nprocOption(const Args& args) {
  const std::optional<std::string> v = args.get("--nproc");
  if (!v) return std::nullopt;
  const int n = std::atoi(v->c_str());
  if (n < 1 || std::to_string(n) != *v)
    throw UsageError("--nproc takes a whole number of processes, at least 1 (got '" + *v + "')");
  return n;
}

int cmdTrain(const Args& args) {
  args.allowOnly({"--db", "--set", "--nproc"});
  if (args.positional.size() != 1) throw UsageError("mola train takes one EXPERIMENT.json");
  const std::optional<int> nproc = nprocOption(args);
  const std::optional<DistEnv> env = distEnvFromEnvironment();
  const auto experiment = [&] {
    ExperimentConfig config = loadExperiment(args.positional[0]);
    std::vector<std::string> sets = args.getAll("--set");
    // Under torchrun (or --nproc's own launch) the started ranks are the count.
    if (env || nproc)
      sets.push_back("training.processes=" + std::to_string(env ? env->world : *nproc));
    applyExperimentOverrides(config, sets);
    return config;
  };
  if (env) {
    if (nproc && *nproc != env->world)
      throw UsageError("--nproc " + std::to_string(*nproc) + " but WORLD_SIZE is " +
                       std::to_string(env->world) + ": under torchrun, leave --nproc out");
    return trainAsRank(*env, [&] {
      RankPlan plan;
      plan.config = experiment();
      plan.store = std::make_unique<RunStore>(openStoreToWrite(args));
      plan.run = createRunFor(*plan.store, plan.config);
      std::cerr << "run " << plan.run << " (" << plan.config.name << ") in "
                << plan.store->path().string() << ", " << env->world << " processes\n";
      return plan;
    });
  }
  ExperimentConfig config = experiment();
  if (config.processes > 1) return launchLocalRanks(config.processes);
  RunStore store = openStoreToWrite(args);
  const int64_t run = createRunFor(store, config);
  std::cerr << "run " << run << " (" << config.name << ") in " << store.path().string() << "\n";
  return runTrainer(store, run, config, std::nullopt);
}

int cmdResume(const Args& args) {
  args.allowOnly({"--db", "--nproc"});
  if (args.positional.size() != 1) throw UsageError("mola resume takes one RUN_ID");
  const int64_t id = parseRunId(args.positional[0]);
  const std::optional<int> nproc = nprocOption(args);
  const std::optional<DistEnv> env = distEnvFromEnvironment();
  const auto prepare = [&] {
    RankPlan plan;
    plan.store = std::make_unique<RunStore>(openStoreToWrite(args));
    ResumePlan resume = prepareResume(*plan.store, id);
    for (const std::string& note : resume.notes) std::cerr << shown(note) << "\n";
    if (resume.checkpoint)
      std::cerr << "resuming run " << id << " from step " << resume.checkpoint->step << " ("
                << resume.checkpoint->path << ")\n";
    else
      std::cerr << "restarting run " << id << " from step 0\n";
    plan.run = id;
    plan.config = resume.config;
    plan.resume = resume.checkpoint;
    return plan;
  };
  if (env) return trainAsRank(*env, prepare);
  {
    // The run's own number of processes, read before anything is claimed.
    const RunStore peek = openStoreToWrite(args);
    const int processes = storedProcesses(peek.run(id));
    if (nproc && *nproc != processes)
      throw UsageError("run " + std::to_string(id) + " was trained by " +
                       std::to_string(processes) + " process" + (processes == 1 ? "" : "es") +
                       "; resume it with --nproc " + std::to_string(processes) +
                       " (a run keeps its number of ranks from its first step to its last)");
    if (processes > 1) return launchLocalRanks(processes);
  }
  RankPlan plan = prepare();
  return runTrainer(*plan.store, plan.run, plan.config, plan.resume);
}

}  // namespace mola::cli
