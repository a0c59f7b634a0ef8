// SPDX-License-Identifier: GPL-3.0-or-later
// The training loop: batches, loss (+ balance loss), accumulation, clipping, AdamW, schedule,
// evaluation, router statistics and atomic checkpoints, between-step stop/pause.
#include "train/trainer.h"

#include <ATen/ATen.h>
#include <fcntl.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>
#include <torch/serialize.h>
#include <torch/utils.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <thread>

#include "adapters/balance_loss.h"
#include "data/prompt_template.h"
#include "data/qa_source.h"
#include "eval/qa_evaluator.h"
#include "model/checkpoint_loader.h"
#include "runtime.h"
#include "split_mix64.h"
#include "train/builtin_base.h"

namespace mola {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr int64_t kIgnore = -100;  // label of positions without loss

void syncFile(const fs::path& p) {
  const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error(p.string() + ": cannot open to sync");
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) throw std::runtime_error(p.string() + ": cannot flush to disk");
}

// Right-padded ids [B, T], labels [B, T] (kIgnore where no loss), real-token mask [B, T].
struct Batch {
  at::Tensor ids, labels, mask;
  int64_t tokens = 0;
};

Batch makeBatch(const std::vector<const EncodedExample*>& examples, bool train_on_prompt) {
  size_t len = 0;
  for (const EncodedExample* e : examples) len = std::max(len, e->ids.size());
  const int64_t b = int64_t(examples.size()), t = int64_t(len);
  std::vector<int64_t> ids(size_t(b * t), 0), labels(size_t(b * t), kIgnore);
  std::vector<uint8_t> mask(size_t(b * t), 0);
  Batch out;
  for (int64_t i = 0; i < b; ++i) {
    const EncodedExample& e = *examples[size_t(i)];
    // Position 0 (BOS) is never predicted; the prompt is, when MoLA's setting asks for it.
    const size_t first_label = train_on_prompt ? 1 : std::max<size_t>(1, e.prompt_tokens);
    for (size_t p = 0; p < e.ids.size(); ++p) {
      ids[size_t(i * t) + p] = e.ids[p];
      mask[size_t(i * t) + p] = 1;
      if (p >= first_label) labels[size_t(i * t) + p] = e.ids[p];
    }
    out.tokens += int64_t(e.ids.size());
  }
  out.ids = at::tensor(ids, at::kLong).view({b, t});
  out.labels = at::tensor(labels, at::kLong).view({b, t});
  out.mask = at::tensor(std::vector<int64_t>(mask.begin(), mask.end()), at::kLong)
                 .view({b, t})
                 .to(at::kBool);
  return out;
}

// The order of the examples in each epoch: a shuffle fixed by the seed and the epoch number.
std::vector<size_t> epochOrder(size_t n, uint64_t seed, int64_t epoch) {
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  SplitMix64 rng(seed * 0x9E3779B97F4A7C15ull + uint64_t(epoch) + 1);
  rng.shuffle(order);
  return order;
}

std::string sourceName(const DataSpec& d) {
  if (d.path.rfind("synthetic:", 0) == 0) return d.path;
  return fs::path(d.path).filename().string();
}

// Where training stands in the data: optimizer steps done, epoch, next example of its order.
struct DataPosition {
  int64_t step = 0, epoch = 0;
  size_t cursor = 0;
};

// Writes a checkpoint atomically: every file into `dir`.tmp, each synced, then one rename.
void writeCheckpoint(const fs::path& dir, const std::string& method, LlamaModel& model,
                     torch::optim::AdamW& optimizer, const DataPosition& at, uint64_t seed) {
  const fs::path tmp = dir.string() + ".tmp";
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  const char* weights = method == "full" ? CheckpointFiles::kWeights : CheckpointFiles::kAdapter;
  if (method == "full") {
    saveFullWeights(model, tmp / weights);
  } else {
    model->saveAdapter(tmp / weights);
  }
  torch::save(optimizer, (tmp / CheckpointFiles::kOptimizer).string());
  {
    at::Generator gen = at::detail::getDefaultCPUGenerator();
    at::Tensor state;
    {
      std::lock_guard<std::mutex> lock(gen.mutex());
      state = gen.get_state();
    }
    std::ofstream rng(tmp / "rng.bin", std::ios::binary);
    rng.write(reinterpret_cast<const char*>(state.data_ptr<uint8_t>()),
              std::streamsize(state.numel()));
    std::ofstream js(tmp / CheckpointFiles::kState);
    js << nlohmann::json{{"step", at.step},
                         {"epoch", at.epoch},
                         {"cursor", at.cursor},
                         {"seed", seed}}
              .dump(2);
    if (!rng || !js)
      throw std::runtime_error(tmp.string() + ": cannot write the checkpoint (disk full?)");
  }
  for (const char* f : {CheckpointFiles::kOptimizer, CheckpointFiles::kState, "rng.bin", weights})
    syncFile(tmp / f);
  fs::remove_all(dir);
  fs::rename(tmp, dir);
  syncFile(dir.parent_path());
}

// Restores what writeCheckpoint wrote into the model (in place: same layout), the optimizer and
// the CPU generator; returns the data position.
DataPosition readCheckpoint(const fs::path& dir, const std::string& method, LlamaModel& model,
                            torch::optim::AdamW& optimizer) {
  std::ifstream in(dir / CheckpointFiles::kState);
  if (!in) throw std::runtime_error((dir / CheckpointFiles::kState).string() + ": cannot open");
  const nlohmann::json state = nlohmann::json::parse(in);
  DataPosition at;
  at.step = state.at("step").get<int64_t>();
  at.epoch = state.at("epoch").get<int64_t>();
  at.cursor = state.at("cursor").get<size_t>();
  if (method == "full") {
    loadFullWeights(model, dir / CheckpointFiles::kWeights);
  } else {
    model->loadAdapter(dir / CheckpointFiles::kAdapter);
  }
  torch::load(optimizer, (dir / CheckpointFiles::kOptimizer).string());
  std::ifstream rng(dir / "rng.bin", std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(rng)),
                             std::istreambuf_iterator<char>());
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(
      at::tensor(std::vector<int64_t>(bytes.begin(), bytes.end()), at::kLong).to(at::kByte));
  return at;
}

}  // namespace

at::Tensor targetLossSum(LlamaModel& model, const at::Tensor& ids, const at::Tensor& labels) {
  const at::Tensor h = model->hidden(ids);  // [B, T, d]
  const int64_t t = h.size(1), d = h.size(2);
  // Position i predicts label i + 1; only positions with a target go through the head, which
  // for a QA prompt is a few tokens of each sequence (the head is vocab x d, the logits
  // tokens x vocab floats).
  const at::Tensor targets = labels.narrow(1, 1, t - 1).reshape({-1});
  const at::Tensor rows = targets.ne(kIgnore).nonzero().squeeze(1);  // one host sync
  const at::Tensor logits =
      model->logits(h.narrow(1, 0, t - 1).reshape({-1, d}).index_select(0, rows));  // [n, V]
  return at::cross_entropy_loss(logits, targets.index_select(0, rows), {}, at::Reduction::Sum);
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
  spec.top_k = c.method == "lora" ? 1 : c.top_k;
  spec.target_modules.clear();
  for (const std::string& m : c.target_modules) spec.target_modules.push_back(parseTargetModule(m));
  spec.rank = c.rank;
  spec.alpha = c.alpha;
  spec.dropout = c.dropout;
  spec.adapter_dtype = at::kFloat;  // master weights: the optimizer state follows them
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

TrainOutcome Trainer::run() {
  auto notifyFinished = [&](TrainOutcome outcome, const std::string& message) {
    for (TrainingObserver* o : m_observers) o->finished(outcome, message);
    return outcome;
  };
  try {
    const ExperimentConfig& c = m_config;
    configureCpuRuntime();
    torch::manual_seed(c.seed);
    const Clock::time_point started = Clock::now();

    // Model, adapters, data. A half dtype keeps the frozen base in it and trains under autocast.
    const c10::ScalarType dtype = dtypeFromName(c.dtype);
    const c10::Device device = deviceFromName(c.device);
    if (dtype == c10::kHalf && device.is_cpu())
      throw std::invalid_argument(
          "dtype fp16 needs a CUDA device: LibTorch has no fp16 matrix multiply on the CPU; use "
          "bf16 or fp32 with device " +
          c.device);
    const bool mixed = dtype == c10::kBFloat16 || dtype == c10::kHalf;
    // The forward (and evaluation) under autocast for half dtypes, nothing otherwise.
    auto autocast = [&](std::optional<AutocastGuard>& guard) {
      if (mixed) guard.emplace(device.type(), dtype);
    };
    LlamaModel model = loadModelOrBuiltin(c.model, dtype);
    const auto tokenizer = loadTokenizerFor(c.model, c.tokenizer);
    const int layers = model->config().num_layers;
    const std::vector<int> experts = prepareForTraining(model, c);
    model->setActivationCheckpointing(c.activation_checkpointing);
    model->to(device);
    model->train();

    const PromptTemplate prompt = PromptTemplate::named(c.prompt_template);
    const QaDataset train_data =
        loadQaSource(c.train.path, c.train.format, c.train.split, c.train.limit);
    const EncodedExamples encoded =
        encodeExamples(train_data.records, *tokenizer, prompt, c.cutoff);
    if (encoded.examples.empty()) throw std::runtime_error(c.train.path + ": no training examples");
    QaDataset eval_data;
    if (!c.eval.path.empty())
      eval_data = loadQaSource(c.eval.path, c.eval.format, c.eval.split, c.eval.limit);

    const std::vector<torch::Tensor> params = model->trainableParameters();
    int64_t trainable = 0;
    for (const auto& p : params) trainable += p.numel();
    torch::optim::AdamW optimizer(params, torch::optim::AdamWOptions(c.lr)
                                              .betas(std::make_tuple(c.beta1, c.beta2))
                                              .weight_decay(c.weight_decay)
                                              .eps(c.adam_eps));

    const size_t n = encoded.examples.size(), batch = size_t(c.batch_size);
    const int64_t batches_per_epoch = int64_t((n + batch - 1) / batch);
    const int64_t total =
        c.max_steps > 0 ? c.max_steps
                        : std::max<int64_t>(1, batches_per_epoch * c.epochs / c.grad_accumulation);

    // Position in the data: epoch and the next example of its order.
    int64_t step = 0, epoch = 0;
    size_t cursor = 0;
    if (!m_resume_dir.empty()) {
      const DataPosition at = readCheckpoint(m_resume_dir, c.method, model, optimizer);
      step = at.step;
      epoch = at.epoch;
      cursor = at.cursor;
    }
    std::vector<size_t> order = epochOrder(n, c.seed, epoch);

    RunStarted info;
    info.total_steps = total;
    info.first_step = step;
    info.trainable_parameters = trainable;
    info.train_examples = int64_t(n);
    info.truncated_examples = int64_t(encoded.truncated);
    info.experts_per_layer = experts;
    info.device = device.str();
    for (TrainingObserver* o : m_observers) o->runStarted(info);

    RouterStatsAccumulator router_stats(experts.empty() ? std::vector<int>(size_t(layers), 1)
                                                        : experts);
    std::string last_checkpoint;
    int64_t last_checkpoint_step = -1, last_eval_step = -1;

    auto saveCheckpoint = [&](int64_t at_step) {
      const fs::path dir = m_run_dir / "checkpoints" / ("step-" + std::to_string(at_step));
      writeCheckpoint(dir, c.method, model, optimizer, {at_step, epoch, cursor}, c.seed);
      last_checkpoint = dir.string();
      last_checkpoint_step = at_step;
      for (TrainingObserver* o : m_observers) o->checkpointSaved(at_step, last_checkpoint);
    };

    auto evaluate = [&](int64_t at_step) {
      if (eval_data.records.empty()) return;
      EvalOptions eo;
      eo.protocol = parseProtocol(c.eval_protocol);
      eo.prompt = prompt;
      eo.batch_size = size_t(std::max(8, c.batch_size));
      std::optional<AutocastGuard> amp;
      autocast(amp);
      const EvalResult r = evaluateQa(model, *tokenizer, eval_data.records, eo);
      EvalReport rep;
      rep.step = at_step;
      rep.benchmark = sourceName(c.eval);
      rep.split = c.eval.split;
      rep.protocol = c.eval_protocol;
      rep.accuracy = r.accuracy;
      rep.accuracy_norm = r.accuracy_norm;
      rep.ci_low = r.ci_low;
      rep.ci_high = r.ci_high;
      rep.n = int64_t(r.n);
      for (const Prediction& p : r.predictions)
        rep.predictions.push_back({p.example_id, p.predicted, p.correct});
      for (TrainingObserver* o : m_observers) o->evaluated(rep);
      last_eval_step = at_step;
    };

    const double clip = c.grad_clip > 0 ? c.grad_clip : std::numeric_limits<double>::infinity();
    while (step < total) {
      while (m_paused && !m_stop) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      if (m_stop) {
        saveCheckpoint(step);
        return notifyFinished(TrainOutcome::Stopped, "stopped at step " + std::to_string(step) +
                                                         "; checkpoint " + last_checkpoint);
      }
      const Clock::time_point t0 = Clock::now();
      const double lr = scheduledLearningRate(c, step, total);
      for (auto& group : optimizer.param_groups())
        static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
      optimizer.zero_grad();
      double loss_sum = 0.0, balance_sum = 0.0;
      int64_t tokens = 0;
      // The step's micro-batches first: the loss is a mean over all their target tokens, so that
      // accumulating k batches of b equals one batch of k*b.
      std::vector<Batch> micro_batches;
      int64_t targets = 0;
      for (int micro = 0; micro < c.grad_accumulation; ++micro) {
        if (cursor >= n) {
          ++epoch;
          cursor = 0;
          order = epochOrder(n, c.seed, epoch);
        }
        std::vector<const EncodedExample*> picked;
        for (size_t i = 0; i < batch && cursor < n; ++i)
          picked.push_back(&encoded.examples[order[cursor++]]);
        micro_batches.push_back(makeBatch(picked, c.train_on_prompt));
        targets += micro_batches.back()
                       .labels.narrow(1, 1, micro_batches.back().labels.size(1) - 1)
                       .ne(kIgnore)
                       .sum()
                       .item<int64_t>();
      }
      const double denom = double(std::max<int64_t>(1, targets));
      for (const Batch& b : micro_batches) {
        const at::Tensor ids = b.ids.to(device), labels = b.labels.to(device);
        const at::Tensor mask = b.mask.to(device).reshape({-1});
        at::Tensor lm_sum, loss;
        std::vector<LayerRoutings> routings;
        {
          // Forward and loss under autocast; the backward outside it, as torch.autocast wants.
          std::optional<AutocastGuard> amp;
          autocast(amp);
          lm_sum = targetLossSum(model, ids, labels);
          loss = lm_sum / denom;
          routings = model->layerRoutings();
          if (!experts.empty() && c.balance_coefficient > 0) {
            const at::Tensor bal = balanceLoss(routings, mask, c.balance_coefficient);
            balance_sum += bal.item<double>() / c.grad_accumulation;
            loss = loss + bal.to(loss.device()) / double(c.grad_accumulation);
          }
        }
        if (c.router_stats_interval > 0 && !experts.empty())
          for (int j = 0; j < layers; ++j) router_stats.add(j, routings[size_t(j)], mask);
        loss.backward();
        loss_sum += lm_sum.item<double>() / denom;
        tokens += b.tokens;
        model->clearRoutings();
      }
      if (!std::isfinite(loss_sum) || !std::isfinite(balance_sum)) {
        return notifyFinished(
            TrainOutcome::Failed,
            "the loss became " + std::string(std::isnan(loss_sum) ? "NaN" : "infinite") +
                " at step " + std::to_string(step + 1) + "; training stopped. " +
                (last_checkpoint.empty() ? std::string("No checkpoint was saved before it.")
                                         : "The last good checkpoint is " + last_checkpoint + ".") +
                " Try a lower learning rate or gradient clipping.");
      }
      const double grad_norm = torch::nn::utils::clip_grad_norm_(params, clip);
      optimizer.step();
      ++step;
      const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
      StepMetrics m;
      m.step = step;
      m.total_steps = total;
      m.loss = loss_sum;
      m.balance_loss = balance_sum;
      m.lr = lr;
      m.grad_norm = grad_norm;
      m.tokens_per_s = dt > 0 ? double(tokens) / dt : 0.0;
      m.elapsed_s = std::chrono::duration<double>(Clock::now() - started).count();
      for (TrainingObserver* o : m_observers) o->stepFinished(m);
      if (c.router_stats_interval > 0 && !experts.empty() && step % c.router_stats_interval == 0) {
        const RouterStatsSnapshot snap = router_stats.snapshot(step);
        router_stats.reset();
        for (TrainingObserver* o : m_observers) o->routerStats(snap);
      }
      if (c.eval_interval > 0 && step % c.eval_interval == 0 && step < total) evaluate(step);
      if (c.checkpoint_interval > 0 && step % c.checkpoint_interval == 0 && step < total)
        saveCheckpoint(step);
    }
    if (last_eval_step != step) evaluate(step);
    if (last_checkpoint_step != step) saveCheckpoint(step);
    return notifyFinished(TrainOutcome::Completed, "completed " + std::to_string(step) +
                                                       " steps; checkpoint " + last_checkpoint);
  } catch (const std::exception& e) {
    return notifyFinished(TrainOutcome::Failed, e.what());
  }
}

}  // namespace mola
