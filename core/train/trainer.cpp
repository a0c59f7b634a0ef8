// SPDX-License-Identifier: GPL-3.0-or-later
// The training loop: batches, loss (+ balance loss), accumulation, clipping, AdamW, schedule,
// evaluation, router statistics and atomic checkpoints, between-step stop/pause.
#include "train/trainer.h"

#include <ATen/ATen.h>
#include <torch/optim/optimizer.h>
#include <torch/utils.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <thread>

#include "adapters/balance_loss.h"
#include "device_memory.h"
#include "dist/gradient_buckets.h"
#include "dist/rank_group.h"
#include "eval/qa_evaluator.h"
#include "fault_injection.h"
#include "model/checkpoint_loader.h"
#include "model/linear_cross_entropy.h"
#include "model/tokenizer.h"
#include "runtime.h"
#include "split_mix64.h"
#include "train/builtin_base.h"
#include "train/checkpoint.h"
#include "train/data_parallel.h"
#include "train/optimizers.h"
#include "train/riemannian_preconditioner.h"
#include "train/training_data.h"

namespace mola {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// The unweighted mean of the tasks' accuracies (as MOELoRA reports it), with a normal-
// approximation 95% interval from the tasks' binomial variances.
EvalReport meanOfTasks(const std::vector<EvalReport>& tasks) {
  EvalReport mean;
  mean.step = tasks.front().step;
  mean.benchmark = kMeanOfTasks;
  mean.protocol = tasks.front().protocol;
  double variance = 0.0;
  const double k = double(tasks.size());
  for (const EvalReport& t : tasks) {
    mean.accuracy += t.accuracy / k;
    mean.accuracy_norm += t.accuracy_norm / k;
    mean.n += t.n;
    if (t.n > 0) variance += t.accuracy * (1.0 - t.accuracy) / double(t.n) / (k * k);
  }
  const double half = 1.959963984540054 * std::sqrt(variance);
  mean.ci_low = std::max(0.0, mean.accuracy - half);
  mean.ci_high = std::min(1.0, mean.accuracy + half);
  return mean;
}

// A resumed checkpoint must come from a run of as many ranks as this one.
void checkWorldSize(const CheckpointReader& checkpoint, int world) {
  const int written_by = checkpoint.worldSize();
  if (written_by != world)
    throw std::invalid_argument(
        "checkpoint " + checkpoint.dir().string() + " was written by a run of " +
        std::to_string(written_by) + " process" + (written_by == 1 ? "" : "es") +
        "; resume it with " + std::to_string(written_by) + ", not " + std::to_string(world) +
        " (a run keeps its number of ranks from its first step to its last)");
}

}  // namespace

EvalReport evalReportOf(const EvalResult& r, int64_t step, const std::string& benchmark,
                        const std::string& split) {
  EvalReport rep;
  rep.step = step;
  rep.benchmark = benchmark;
  rep.split = split;
  rep.protocol = protocolName(r.protocol);
  rep.accuracy = r.accuracy;
  rep.accuracy_norm = r.accuracy_norm;
  rep.ci_low = r.ci_low;
  rep.ci_high = r.ci_high;
  rep.n = int64_t(r.n);
  for (const Prediction& p : r.predictions)
    rep.predictions.push_back({p.example_id, p.predicted, p.correct});
  return rep;
}

at::Tensor targetLossSum(LlamaModel& model, const at::Tensor& ids, const at::Tensor& labels) {
  TORCH_CHECK(labels.device().is_cpu(), "targetLossSum takes the labels on the host, not on ",
              labels.device());
  TORCH_CHECK(labels.sizes() == ids.sizes(), "labels ", labels.sizes(), " do not match ids ",
              ids.sizes());
  const at::Tensor h = model->hidden(ids);  // [B, T, d]
  const int64_t t = h.size(1), d = h.size(2);
  // Position i predicts label i + 1; only positions with a target go through the head, which
  // for a QA prompt is a few tokens of each sequence, chunk by chunk (the head is vocab x d, the
  // logits tokens x vocab floats). Which positions those are is read on the host: nothing waits.
  const at::Tensor host = labels.to(at::kLong).contiguous();
  const auto y = host.accessor<int64_t, 2>();
  std::vector<int64_t> rows, targets;
  for (int64_t b = 0; b < y.size(0); ++b)
    for (int64_t i = 0; i + 1 < t; ++i)
      if (y[b][i + 1] != kIgnore) {
        rows.push_back(b * (t - 1) + i);
        targets.push_back(y[b][i + 1]);
      }
  const at::Tensor picked = h.narrow(1, 0, t - 1)
                                .reshape({-1, d})
                                .index_select(0, uploaded(at::tensor(rows), h.device()));  // [n, d]
  return linearCrossEntropySum(picked, model->headWeight(),
                               uploaded(at::tensor(targets), h.device()));
}

std::vector<int> prepareForTraining(LlamaModel& model, const ExperimentConfig& c) {
  if (c.method == "full") {
    model->setBaseTrainable(true);
    return {};
  }
  const int layers = model->config().num_layers;
  MolaSpec spec;
  spec.allocation =
      c.method == "lora" ? Allocation::uniform(1, layers) : Allocation::parse(c.allocation, layers);
  spec.top_k = c.method == "mola" ? c.top_k : 1;
  if (c.method == "moelora") {
    spec.task_gated = true;
    for (const TaskSpec& t : experimentTasks(c)) spec.tasks.push_back(t.name);
    spec.task_dim = c.task_embedding_dim;
  }
  spec.gate_rescaling = c.method == "mola" && c.preconditioner == "riemannian" && c.gate_rescaling;
  spec.target_modules.clear();
  for (const std::string& m : c.target_modules) spec.target_modules.push_back(parseTargetModule(m));
  sortTargetModules(spec.target_modules);
  spec.rank = c.rank;
  spec.alpha = c.alpha;
  spec.dropout = c.dropout;
  spec.adapter_dtype = at::kFloat;  // master weights: the optimizer state follows them
  checkAdaptersFit(spec.allocation, model->config().shape(), spec.rank, spec.target_modules,
                   double(sysconf(_SC_PHYS_PAGES)) * double(sysconf(_SC_PAGE_SIZE)));
  model->injectMola(spec);
  return spec.allocation.perLayer();
}

double scheduledLearningRate(const ExperimentConfig& c, int64_t step, int64_t total) {
  // `step` optimizer steps are done; this is the rate of step + 1.
  const double s = double(step + 1);
  if (c.warmup_steps > 0 && s <= c.warmup_steps) return c.lr * s / double(c.warmup_steps);
  if (c.schedule == "constant") return c.lr;
  const double span = std::max(1.0, double(total - c.warmup_steps));
  const double progress = std::clamp((s - double(c.warmup_steps)) / span, 0.0, 1.0);
  if (c.schedule == "cosine") return c.lr * 0.5 * (1.0 + std::cos(M_PI * progress));
  return c.lr * (1.0 - progress);
}

Trainer::Trainer(ExperimentConfig config, fs::path run_dir)
    : m_config(std::move(config)), m_run_dir(std::move(run_dir)) {}

Trainer::~Trainer() = default;

void Trainer::addObserver(TrainingObserver* observer) {
  m_observers.push_back(observer);
}

void Trainer::resumeFrom(const fs::path& checkpoint_dir) {
  m_resume_dir = checkpoint_dir;
}

// Everything one run holds between setUp() and the end of run().
struct Trainer::State {
  c10::ScalarType dtype = c10::kFloat;
  c10::Device device{c10::kCPU};
  bool mixed = false;  // a half dtype: forward and evaluation under autocast
  LlamaModel model{nullptr};
  std::unique_ptr<Tokenizer> tokenizer;
  PromptTemplate prompt;
  TrainingData data;
  std::vector<int> experts;  // per layer; empty for full fine-tuning
  bool task_gated = false;   // MOELoRA: experts weighted by the task, no routers
  int layers = 0;
  std::vector<torch::Tensor> params;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  std::unique_ptr<RiemannianPreconditioner> preconditioner;
  std::unique_ptr<RouterStatsAccumulator> router;
  TrainingPosition at;
  std::vector<size_t> order;  // of the examples in epoch at.epoch
  int64_t total = 0;
  double clip = 0.0;
  Clock::time_point started;
  Clock::duration paused{};  // time spent paused, left out of the elapsed time
  std::string last_checkpoint;
  int64_t last_checkpoint_step = -1, last_eval_step = -1;
  RankGroup* group = nullptr;  // a data-parallel run's; null in a single process
  int rank = 0, world = 1;
  std::unique_ptr<GradientBuckets> buckets;

  // Autocast for the forward (and evaluation) of a half dtype; nothing otherwise.
  void autocast(std::optional<AutocastGuard>& guard) const {
    if (mixed) guard.emplace(device.type(), dtype);
  }
  bool routed() const { return !experts.empty() && !task_gated; }
  // Sums across ranks for collective `what`; empty in a single process.
  TensorReducer reducer(const std::string& what) const {
    return group ? group->reducer(what) : TensorReducer{};
  }
  std::string stepName() const { return "step " + std::to_string(at.step + 1); }
};

void Trainer::setUp(State& s) {
  const ExperimentConfig& c = m_config;
  if (!m_group && c.processes > 1)
    throw std::invalid_argument(
        "training.processes is " + std::to_string(c.processes) +
        " but this trainer runs alone: a run of several processes is started by `mola train` or "
        "`mola resume` (they start its ranks) or by the workbench's Run, not from a queue");
  configureCpuRuntime();
  torch::manual_seed(c.seed);
  s.started = Clock::now();
  s.dtype = dtypeFromName(c.dtype);
  s.device = deviceFromName(c.device);
  if (s.dtype == c10::kHalf && s.device.is_cpu())
    throw std::invalid_argument(
        "dtype fp16 needs a CUDA device: LibTorch has no fp16 matrix multiply on the CPU; use "
        "bf16 or fp32 with device " +
        c.device);
  s.mixed = s.dtype == c10::kBFloat16 || s.dtype == c10::kHalf;

  // Model and adapters; a checkpoint's weights before the optimizer exists, so that it holds the
  // parameters the model trains (restoring may rebuild adapter modules).
  BasePreparation preparation;
  preparation.progress = [this](int64_t step, int64_t total) {
    for (TrainingObserver* o : m_observers) o->preparing(step, total);
  };
  preparation.stop = [this] { return m_stop.load(); };
  preparation.paused = [this] { return m_paused.load(); };
  s.model = loadModelOrBuiltin(c.model, s.dtype, preparation);
  s.tokenizer = loadTokenizerFor(c.model, c.tokenizer);
  s.layers = s.model->config().num_layers;
  s.experts = prepareForTraining(s.model, c);
  s.task_gated = c.method == "moelora";
  std::optional<CheckpointReader> checkpoint;
  if (!m_resume_dir.empty()) {
    checkpoint.emplace(m_resume_dir, m_identity);
    checkpoint->restoreModel(s.model, c.method);
    s.at = checkpoint->position();
  }
  s.model->setActivationCheckpointing(c.activation_checkpointing);
  s.model->to(s.device);
  s.model->train();
  s.params = s.model->trainableParameters();
  if (checkpoint) checkWorldSize(*checkpoint, m_group ? m_group->size() : 1);
  if (m_group) joinRanks(s);

  s.prompt = PromptTemplate::named(c.prompt_template);
  s.data = loadTrainingData(c, *s.tokenizer, s.prompt);

  s.optimizer = makeOptimizer(c, s.params);
  s.preconditioner = makePreconditioner(c, *s.model);
  s.router = std::make_unique<RouterStatsAccumulator>(
      s.routed() ? s.experts : std::vector<int>(size_t(s.layers), 1));
  if (checkpoint) {
    checkpoint->restoreOptimizer(*s.optimizer);
    // Rank 0's router sums are every rank's (summed when the checkpoint was written).
    checkpoint->restoreRandomState(s.rank == 0 ? s.router.get() : nullptr, s.device);
    s.last_checkpoint = m_resume_dir.string();
    s.last_checkpoint_step = s.at.step;
  }

  const size_t n = s.data.examples.size(), batch = size_t(c.batch_size);
  const int64_t batches_per_epoch = int64_t((n + batch - 1) / batch);
  s.total = c.max_steps > 0
                ? c.max_steps
                : std::max<int64_t>(1, batches_per_epoch * c.epochs / c.grad_accumulation);
  s.order = trainingOrder(s.data, c, s.at.epoch);
  s.clip = c.grad_clip > 0 ? c.grad_clip : std::numeric_limits<double>::infinity();
  // Each rank draws its own dropout masks (rank 0 keeps the single-process stream).
  if (s.rank > 0)
    torch::manual_seed(
        c.seed ^ SplitMix64(uint64_t(s.rank) * 0x9E3779B97F4A7C15ull + uint64_t(s.at.step)).next());
}

void Trainer::joinRanks(State& s) {
  const ExperimentConfig& c = m_config;
  s.group = m_group;
  s.rank = m_group->rank();
  s.world = m_group->size();
  if (c.processes != s.world)
    throw std::invalid_argument("the experiment says " + std::to_string(c.processes) +
                                " processes (training.processes) but " + std::to_string(s.world) +
                                " ranks were started");
  m_group->startBackend(s.device);
  // One set of weights: rank 0's (the same seed made them equal; this makes sure of it).
  {
    at::NoGradGuard no_grad;
    for (torch::Tensor& p : s.params) {
      at::Tensor flat = p.detach();
      m_group->broadcast(flat, 0, "the first weights' broadcast");
    }
  }
  int64_t bucket_bytes = GradientBuckets::kDefaultBytes;
  if (const char* mb = std::getenv("MOLA_BUCKET_MB"))
    bucket_bytes = std::max<int64_t>(1, int64_t(std::atof(mb) * double(1 << 20)));
  s.buckets = std::make_unique<GradientBuckets>(*m_group, s.params, bucket_bytes);
}

struct Trainer::StepBatches {
  std::vector<Batch> micro;
  int64_t targets = 0;    // positions with a label, every rank's
  int64_t tokens = 0;     // real tokens, every rank's
  int64_t positions = 0;  // the padded batches' positions, every rank's
};

Trainer::StepBatches Trainer::takeStepBatches(State& s) {
  const ExperimentConfig& c = m_config;
  const size_t n = s.data.examples.size(), batch = size_t(c.batch_size);
  StepBatches out;
  for (int micro = 0; micro < c.grad_accumulation; ++micro) {
    if (s.at.cursor >= n) {
      ++s.at.epoch;
      s.at.cursor = 0;
      s.order = trainingOrder(s.data, c, s.at.epoch);
    }
    std::vector<const TrainingExample*> picked;
    for (size_t i = 0; i < batch && s.at.cursor < n; ++i)
      picked.push_back(&s.data.examples[s.order[s.at.cursor++]]);
    for (const TrainingExample* e : picked) {
      out.tokens += int64_t(e->encoded.ids.size());
      out.targets += targetCount(e->encoded, c.train_on_prompt);
    }
    // Each rank pads its share to the share's longest example.
    for (int r = 0; r < s.world; ++r) {
      const Shard share = shardOf(picked.size(), r, s.world);
      size_t longest = 0;
      for (size_t i = share.begin; i < share.end; ++i)
        longest = std::max(longest, picked[i]->encoded.ids.size());
      out.positions += int64_t(longest * share.size());
    }
    const Shard shard = shardOf(picked.size(), s.rank, s.world);
    // A rank whose share is empty (the last, short batch of an epoch) still takes part in every
    // collective: it runs one example that counts for nothing.
    const bool idle = shard.size() == 0;
    std::vector<const TrainingExample*> mine(picked.begin() + int64_t(shard.begin),
                                             picked.begin() + int64_t(shard.end));
    if (idle) mine.push_back(picked.front());
    out.micro.push_back(makeBatch(mine, c.train_on_prompt));
    if (idle) {
      out.micro.back().labels.fill_(kIgnore);
      out.micro.back().mask.fill_(false);
    }
  }
  return out;
}

bool Trainer::trainStep(State& s, StepMetrics& m) {
  const ExperimentConfig& c = m_config;
  const Clock::time_point t0 = Clock::now();
  resetPeakMemory(s.device);
  const double lr = scheduledLearningRate(c, s.at.step, s.total);
  setLearningRate(*s.optimizer, lr);
  s.optimizer->zero_grad();
  // The step's micro-batches first: the loss is a mean over all their target tokens (every
  // rank's), so that accumulating k batches of b equals one batch of k*b, and r ranks each
  // holding b/r of a batch equal one process holding all of it.
  const StepBatches batches = takeStepBatches(s);
  const std::vector<Batch>& micro_batches = batches.micro;
  const double denom = double(std::max<int64_t>(1, batches.targets));
  // The losses stay on the device until every micro-batch is queued and the gradients are
  // clipped: one read per step, of the loss, the balance loss and the gradients' norm.
  at::Tensor losses = at::zeros({3}, at::TensorOptions(at::kDouble).device(s.device));
  for (size_t i = 0; i < micro_batches.size(); ++i) {
    const Batch& b = micro_batches[i];
    s.model->setTasks(b.tasks);
    trainMicroBatch(s, b.ids, b.labels, b.mask, denom, i + 1 == micro_batches.size(), losses);
  }
  if (s.group) {
    s.buckets->finish();
    s.group->allReduceSum(losses, "the loss sum of " + s.stepName());
  }
  losses[2].copy_(clipGradNorm(s.params, s.clip));
  const at::Tensor read = losses.cpu();
  const double* sums = read.data_ptr<double>();
  m.loss = sums[0];
  m.balance_loss = sums[1];
  m.grad_norm = sums[2];
  if (!std::isfinite(m.loss) || !std::isfinite(m.balance_loss)) return false;
  if (s.preconditioner) s.preconditioner->apply();
  s.optimizer->step();
  ++s.at.step;
  faultPoint("train.step");
  const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
  m.step = s.at.step;
  m.total_steps = s.total;
  m.lr = lr;
  m.tokens_per_s = dt > 0 ? double(batches.tokens) / dt : 0.0;
  m.padding =
      batches.positions > 0 ? 1.0 - double(batches.tokens) / double(batches.positions) : 0.0;
  m.elapsed_s = std::chrono::duration<double>(Clock::now() - s.started - s.paused).count();
  m.peak_mem_mb = peakMemoryMb(s.device);
  return true;
}

void Trainer::trainMicroBatch(State& s, const at::Tensor& ids_cpu, const at::Tensor& labels_cpu,
                              const at::Tensor& mask_cpu, double denom, bool last,
                              at::Tensor& losses) {
  const ExperimentConfig& c = m_config;
  const at::Tensor ids = uploaded(ids_cpu, s.device);
  const at::Tensor mask = uploaded(mask_cpu, s.device).reshape({-1});
  at::Tensor lm_sum, loss;
  std::vector<LayerRoutings> routings;
  RoutingSums sums;
  {
    // Forward and loss under autocast; the backward outside it, as torch.autocast wants.
    std::optional<AutocastGuard> amp;
    s.autocast(amp);
    lm_sum = targetLossSum(s.model, ids, labels_cpu);
    loss = lm_sum / denom;
    routings = s.model->layerRoutings();
    // Every layer's routing summed once: the balance loss and the router statistics read it.
    if (s.routed()) sums = routingSums(routings, mask, s.experts);
    if (s.routed() && c.balance_coefficient > 0) {
      const at::Tensor bal = balanceLoss(sums, routings, c.balance_coefficient,
                                         s.reducer("the balance loss of " + s.stepName()));
      losses[1].add_(bal.detach().to(losses.device(), at::kDouble) / double(c.grad_accumulation));
      loss = loss + bal.to(loss.device()) / double(c.grad_accumulation);
    }
  }
  if (c.router_stats_interval > 0 && s.routed()) s.router->add(sums);
  if (last && s.buckets) s.buckets->arm(s.stepName());
  loss.backward();
  losses[0].add_(lm_sum.detach().to(at::kDouble) / denom);
  s.model->clearRoutings();
}

bool Trainer::stopRequested(State& s) {
  if (!s.group) return m_stop;
  at::Tensor any = at::full({1}, m_stop ? 1.0 : 0.0, at::kDouble);
  s.group->allReduceSum(any, "the stop check before " + s.stepName());
  return any.item<double>() > 0;
}

void Trainer::evaluate(State& s) {
  const ExperimentConfig& c = m_config;
  if (s.data.eval.empty()) return;
  EvalOptions eo;
  eo.protocol = parseProtocol(c.eval_protocol);
  eo.prompt = s.prompt;
  eo.batch_size = size_t(std::max(8, c.batch_size));
  std::optional<AutocastGuard> amp;
  s.autocast(amp);
  std::vector<EvalReport> reports;
  for (const TaskEvalSet& set : s.data.eval) {
    eo.task = set.task;
    const EvalResult r = s.group ? evaluateShared(s.model, *s.tokenizer, set.records, eo, *s.group,
                                                  "the evaluation of " + set.benchmark +
                                                      " at step " + std::to_string(s.at.step))
                                 : evaluateQa(s.model, *s.tokenizer, set.records, eo);
    reports.push_back(evalReportOf(r, s.at.step, set.benchmark, set.split));
  }
  faultPoint("eval");
  s.last_eval_step = s.at.step;
  if (s.rank != 0) return;
  if (reports.size() > 1) reports.push_back(meanOfTasks(reports));
  for (const EvalReport& rep : reports)
    for (TrainingObserver* o : m_observers) o->evaluated(rep);
}

void Trainer::saveCheckpoint(State& s) {
  const fs::path dir = m_run_dir / "checkpoints" / ("step-" + std::to_string(s.at.step));
  if (s.group) {
    // Rank 0 writes every rank's router sums so far; the others count afresh from here.
    s.router->reduce(s.reducer("the router statistics' sum before the checkpoint of step " +
                               std::to_string(s.at.step)));
    s.last_checkpoint = dir.string();
    s.last_checkpoint_step = s.at.step;
    if (s.rank != 0) {
      s.router->reset();
      return;
    }
  }
  CheckpointParts parts;
  parts.method = m_config.method;
  parts.model = &s.model;
  parts.optimizer = s.optimizer.get();
  parts.router = s.router.get();
  parts.position = s.at;
  parts.seed = m_config.seed;
  parts.world_size = s.world;
  writeCheckpoint(dir, parts, m_identity);
  s.last_checkpoint = dir.string();
  s.last_checkpoint_step = s.at.step;
  for (TrainingObserver* o : m_observers) o->checkpointSaved(s.at.step, s.last_checkpoint);
  pruneCheckpoints(s.at.step);
}

void Trainer::pruneCheckpoints(int64_t step) {
  const int keep = m_config.keep_checkpoints;
  if (keep <= 0) return;
  // This run's checkpoint folders up to `step`, newest first. Later ones (left by a run resumed
  // from an earlier checkpoint) are replaced when training reaches their step; write folders
  // (step-N.tmp) are not checkpoints.
  std::vector<std::pair<int64_t, fs::path>> found;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(m_run_dir / "checkpoints", ec)) {
    const std::string name = e.path().filename().string();
    if (name.size() <= 5 || name.size() > 23 || name.rfind("step-", 0) != 0 ||
        !e.is_directory(ec) || name.find_first_not_of("0123456789", 5) != std::string::npos)
      continue;
    const int64_t at = std::stoll(name.substr(5));
    if (at <= step) found.emplace_back(at, e.path());
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a > b; });
  // Each leaves the store first, then the disk; a folder that cannot be removed is met again
  // (and tried again) at the next checkpoint.
  for (size_t i = size_t(keep); i < found.size(); ++i) {
    for (TrainingObserver* o : m_observers) o->checkpointRemoved(found[i].first, found[i].second);
    fs::remove_all(found[i].second, ec);
  }
}

void Trainer::afterStep(State& s) {
  const ExperimentConfig& c = m_config;
  const int64_t step = s.at.step;
  if (c.router_stats_interval > 0 && s.task_gated && step % c.router_stats_interval == 0 &&
      s.rank == 0) {
    const RouterStatsSnapshot snap = s.model->taskGate()->snapshot(step);
    for (TrainingObserver* o : m_observers) o->routerStats(snap);
  }
  if (c.router_stats_interval > 0 && s.routed() && step % c.router_stats_interval == 0) {
    if (s.group)
      s.router->reduce(s.reducer("the router statistics' sum at step " + std::to_string(step)));
    if (s.rank == 0) {
      const RouterStatsSnapshot snap = s.router->snapshot(step);
      for (TrainingObserver* o : m_observers) o->routerStats(snap);
    }
    s.router->reset();
  }
  if (c.eval_interval > 0 && step % c.eval_interval == 0 && step < s.total) evaluate(s);
  if (c.checkpoint_interval > 0 && step % c.checkpoint_interval == 0 && step < s.total)
    saveCheckpoint(s);
}

TrainOutcome Trainer::finish(TrainOutcome outcome, const std::string& message) {
  // Every observer hears the outcome, even when one of them fails (a store that cannot be
  // written); the first failure passes on to the caller.
  std::exception_ptr failure;
  for (TrainingObserver* o : m_observers) {
    try {
      o->finished(outcome, message);
    } catch (...) {
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
  return outcome;
}

Trainer::Result Trainer::train(State& s) {
  setUp(s);
  RunStarted info;
  info.total_steps = s.total;
  info.first_step = s.at.step;
  for (const auto& p : s.params) info.trainable_parameters += p.numel();
  info.train_examples = int64_t(s.data.examples.size());
  info.truncated_examples = int64_t(s.data.truncated);
  info.experts_per_layer = s.experts;
  info.routed =
      s.routed() && std::any_of(s.experts.begin(), s.experts.end(), [](int n) { return n > 1; });
  info.device = s.device.str();
  info.processes = s.world;
  for (TrainingObserver* o : m_observers) o->runStarted(info);

  while (s.at.step < s.total) {
    const Clock::time_point pause_start = Clock::now();
    while (m_paused && !m_stop) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    s.paused += Clock::now() - pause_start;
    if (stopRequested(s)) {
      if (s.last_checkpoint_step != s.at.step) saveCheckpoint(s);
      return {TrainOutcome::Stopped,
              "stopped at step " + std::to_string(s.at.step) + "; checkpoint " + s.last_checkpoint};
    }
    StepMetrics m;
    if (!trainStep(s, m))
      return {TrainOutcome::Failed,
              "the loss became " + std::string(std::isnan(m.loss) ? "NaN" : "infinite") +
                  " at step " + std::to_string(s.at.step + 1) + "; training stopped. " +
                  (s.last_checkpoint.empty()
                       ? std::string("No checkpoint was saved before it.")
                       : "The last good checkpoint is " + s.last_checkpoint + ".") +
                  " Try a lower learning rate or gradient clipping."};
    for (TrainingObserver* o : m_observers) o->stepFinished(m);
    afterStep(s);
  }
  if (s.last_eval_step != s.at.step) evaluate(s);
  if (s.last_checkpoint_step != s.at.step) saveCheckpoint(s);
  return {TrainOutcome::Completed,
          "completed " + std::to_string(s.at.step) + " steps; checkpoint " + s.last_checkpoint};
}

TrainOutcome Trainer::run() {
  State s;
  Result result;
  try {
    result = train(s);
  } catch (const RankLostError& e) {
    result = {
        TrainOutcome::Interrupted,
        std::string(e.what()) + ". " +
            (s.last_checkpoint.empty()
                 ? std::string("No checkpoint was saved: resumed, the run starts again "
                               "from step 0.")
                 : "Resume the run (with the same number of processes) from step " +
                       std::to_string(s.last_checkpoint_step) + " (" + s.last_checkpoint + ").")};
  } catch (const BasePreparationStopped&) {
    result = {TrainOutcome::Stopped,
              "stopped while the built-in base model was being prepared, before step 1; "
              "resuming starts the run from its beginning"};
  } catch (const CheckpointError& e) {
    result = {TrainOutcome::Failed,
              std::string(e.what()) + ". " +
                  (s.last_checkpoint.empty()
                       ? std::string("No earlier checkpoint exists: resumed, the run starts "
                                     "again from step 0.")
                       : "The last good checkpoint is step " +
                             std::to_string(s.last_checkpoint_step) + " (" + s.last_checkpoint +
                             "): free some space and resume the run from there.")};
  } catch (const std::exception& e) {
    result = {TrainOutcome::Failed, e.what()};
  }
  return finish(result.outcome, result.message);
}

}  // namespace mola
