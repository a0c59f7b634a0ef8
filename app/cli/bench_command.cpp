// SPDX-License-Identifier: GPL-3.0-or-later
// mola bench: training-step throughput and peak memory per variant, each in its own process.
#include <ATen/ATen.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "adapters/allocation.h"
#include "bench/cuda_graph_step.h"
#include "bench/machine_info.h"
#include "bench/train_step_bench.h"
#include "cli_args.h"
#include "commands.h"
#include "device_memory.h"
#include "dist/dist_env.h"
#include "dist/rank_group.h"
#include "fault_injection.h"
#include "model/checkpoint_loader.h"
#include "model/model_shape.h"
#include "rank_launcher.h"
#include "runtime.h"

extern char** environ;

namespace mola::cli {

namespace {

namespace fs = std::filesystem;
// Ordered: the report lists machine, shape and variants in that order, as documented.
using json = nlohmann::ordered_json;

const std::vector<std::string> kOptions = {"--device",     "--shape",
                                           "--seq",        "--batch",
                                           "--steps",      "--warmup",
                                           "--json",       "--variants",
                                           "--worker",     "--tty",
                                           "--threads",    "--torch-threads",
                                           "--dtype",      "--activation-checkpointing",
                                           "--nproc",      "--profile",
                                           "--cuda-graph", "--peak-tflops"};

struct BenchSettings {
  std::string shape_arg = "small";
  TrainStepBenchOptions run;  // what each worker runs (its config from shape_arg)
  // CPU threads as configureCpuRuntime splits them (0: one per core); torch_threads > 0 overrides
  // LibTorch's share.
  int threads = 0, torch_threads = 0;
  // --nproc N: each variant also as N data-parallel ranks, each with its own batch, against one
  // process with one rank's share of the cores.
  int nproc = 1;
  // The device's peak for MFU, TFLOP/s: --peak-tflops, else the GPU's dense half-precision peak
  // when it is known and the dtype is bf16 or fp16; -1 leaves MFU out.
  double peak_tflops = -1;
};

// The FLOP a token costs a frozen base model of N parameters in a training step: 2 N forward and
// 2 N for the input gradients (the adapters' few percent left out), as issue 14 counts MFU.
double flopsPerToken(const ModelShape& shape) {
  return 4.0 * double(countBaseParameters(shape));
}

// Adds each variant's model TFLOP/s (tokens/s x 4 N) and, with a known peak, its MFU.
void addModelFlops(json& results, const BenchSettings& s, const ModelShape& shape) {
  const double flops_per_token = flopsPerToken(shape);
  for (json& r : results) {
    const double tflops = r.at("tokens_per_s").get<double>() * flops_per_token / 1e12;
    r["model_tflops"] = tflops;
    if (s.peak_tflops > 0) r["mfu"] = tflops / s.peak_tflops;
  }
}

// A named shape or a Hugging Face config.json (or the directory holding one).
LlamaConfig shapeConfig(const std::string& arg, int64_t seq) {
  if (auto shape = ModelShape::named(arg)) {
    LlamaConfig c;
    c.architecture = "llama";
    c.vocab_size = shape->vocab_size;
    c.d_model = shape->d_model;
    c.ffn_dim = shape->ffn_dim;
    c.num_layers = shape->num_layers;
    c.num_heads = shape->num_heads;
    c.num_kv_heads = shape->num_kv_heads;
    c.head_dim = shape->head_dim;
    c.tied_embeddings = shape->tied_embeddings;
    c.max_seq_len = std::max<int64_t>(2048, seq);
    return c;
  }
  fs::path file = arg;
  if (fs::is_directory(file)) file /= "config.json";
  if (!fs::is_regular_file(file)) {
    std::string names;
    for (const std::string& n : ModelShape::namedShapes()) names += (names.empty() ? "" : ", ") + n;
    throw UsageError("--shape '" + arg + "' is neither a named shape (" + names +
                     ") nor a config.json file");
  }
  return readHfConfig(file);
}

// --cuda-graph: what it needs and what it cannot go with.
void checkCudaGraphSettings(const BenchSettings& s) {
  if (s.run.device != "cuda") throw UsageError("--cuda-graph needs --device cuda");
  if (!cudaGraphsBuilt())
    throw UsageError("--cuda-graph needs a CUDA build of LibTorch 2.x, which this mola lacks");
  if (s.run.warmup < 1)
    throw UsageError("--cuda-graph needs at least one warm-up step (--warmup), before the capture");
  if (s.run.profile)
    throw UsageError("--cuda-graph and --profile: the profile counts an eager step's operators");
  if (s.nproc > 1)
    throw UsageError("--cuda-graph and --nproc: data-parallel ranks are not captured");
}

BenchSettings parseSettings(const Args& args) {
  BenchSettings s;
  s.run.device = args.get("--device", "cpu");
  if (s.run.device != "cpu" && s.run.device != "cuda")
    throw UsageError("--device must be cpu or cuda, got '" + s.run.device + "'");
  s.run.dtype = args.get("--dtype", "fp32");
  if (s.run.dtype != "fp32" && s.run.dtype != "bf16" && s.run.dtype != "fp16")
    throw UsageError("--dtype must be fp32, bf16 or fp16, got '" + s.run.dtype + "'");
  if (s.run.dtype == "fp16" && s.run.device != "cuda")
    throw UsageError(
        "--dtype fp16 needs --device cuda (LibTorch has no fp16 matrix multiply on "
        "the CPU); use bf16");
  if (auto v = args.get("--activation-checkpointing")) {
    if (*v != "on" && *v != "off")
      throw UsageError("--activation-checkpointing must be on or off, got '" + *v + "'");
    s.run.activation_checkpointing = *v == "on";
  }
  s.run.seq = args.getNumber<int>("--seq", 256);
  s.run.batch = args.getNumber<int>("--batch", 4);
  s.run.steps = args.getNumber<int>("--steps", 5);
  s.run.warmup = args.getNumber<int>("--warmup", 2);
  if (s.run.seq < 1) throw UsageError("--seq must be at least 1, got " + std::to_string(s.run.seq));
  if (s.run.batch < 1)
    throw UsageError("--batch must be at least 1, got " + std::to_string(s.run.batch));
  if (s.run.steps < 1)
    throw UsageError("--steps must be at least 1, got " + std::to_string(s.run.steps));
  if (s.run.warmup < 0)
    throw UsageError("--warmup must not be negative, got " + std::to_string(s.run.warmup));
  s.threads = args.getNumber<int>("--threads", 0);
  if (s.threads < 0)
    throw UsageError("--threads must not be negative, got " + std::to_string(s.threads));
  s.torch_threads = args.getNumber<int>("--torch-threads", 0);
  if (s.torch_threads < 0)
    throw UsageError("--torch-threads must not be negative, got " +
                     std::to_string(s.torch_threads));
  s.run.profile = args.get("--profile").has_value();
  s.run.cuda_graph = args.get("--cuda-graph").has_value();
  s.peak_tflops = args.getNumber<double>("--peak-tflops", -1);
  if (args.get("--peak-tflops") && !(s.peak_tflops > 0))
    throw UsageError("--peak-tflops must be a positive number of TFLOP/s, got '" +
                     *args.get("--peak-tflops") + "'");
  s.nproc = args.getNumber<int>("--nproc", 1);
  if (s.nproc < 1) throw UsageError("--nproc must be at least 1, got " + std::to_string(s.nproc));
  if (s.nproc > 1 && s.threads == 0 && s.torch_threads == 0) {
    // Each rank gets its share of the cores, and so does the one process it is compared with.
    s.torch_threads = std::max(1, int(std::thread::hardware_concurrency()) / s.nproc);
    s.threads = s.torch_threads;
  }
  if (s.run.cuda_graph) checkCudaGraphSettings(s);
  s.shape_arg = args.get("--shape", "small");
  s.run.config = shapeConfig(s.shape_arg, s.run.seq);
  if (s.run.seq > s.run.config.max_seq_len)
    throw UsageError("--seq " + std::to_string(s.run.seq) + " exceeds the model's " +
                     std::to_string(s.run.config.max_seq_len) + " positions");
  return s;
}

std::vector<std::string> parseVariants(const std::string& list) {
  const std::vector<std::string>& known = benchVariantNames();
  std::vector<std::string> out;
  std::stringstream in(list);
  std::string name;
  while (std::getline(in, name, ',')) {
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      std::string all;
      for (const std::string& n : known) all += (all.empty() ? "" : ", ") + n;
      throw UsageError("--variants: unknown variant '" + name + "' (" + all + ")");
    }
    if (std::find(out.begin(), out.end(), name) != out.end())
      throw UsageError("--variants: '" + name + "' is listed twice");
    out.push_back(name);
  }
  if (out.empty()) throw UsageError("--variants needs at least one variant");
  return out;
}

const json* findVariant(const json& variants, const std::string& name);

json profileJson(const TrainStepBenchResult& r) {
  const OpCounts& c = r.profile;
  return {{"ops", c.ops},
          {"leaf_ops", c.leaf_ops},
          {"kernels", c.kernels},
          {"forward_kernels", r.forward_kernels},
          {"backward_kernels", r.backward_kernels},
          {"optimizer_kernels", r.optimizer_kernels},
          {"syncs", c.syncs},
          {"sync_ops", c.sync_ops},
          {"kernel_ops", c.kernel_ops}};
}

// Where mola-2468's kernels beyond lora-r8's go: the operators whose counts differ most.
void printKernelSurplus(const json& mola, const json& lora) {
  if (!mola.contains("kernel_ops") || !lora.contains("kernel_ops")) return;
  std::map<std::string, int64_t> diff;
  for (const auto& [name, count] : mola.at("kernel_ops").items())
    diff[name] += count.get<int64_t>();
  for (const auto& [name, count] : lora.at("kernel_ops").items())
    diff[name] -= count.get<int64_t>();
  std::vector<std::pair<int64_t, std::string>> rows;
  for (const auto& [name, d] : diff)
    if (d != 0) rows.emplace_back(d, name);
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
    return std::abs(a.first) != std::abs(b.first) ? std::abs(a.first) > std::abs(b.first)
                                                  : a.second < b.second;
  });
  std::printf("mola-2468's kernels beyond lora-r8's, by operator (the largest %zu of %zu):\n",
              std::min<size_t>(rows.size(), 12), rows.size());
  for (size_t i = 0; i < rows.size() && i < 12; ++i)
    std::printf("  %+6lld  %s\n", static_cast<long long>(rows[i].first), rows[i].second.c_str());
}

// --profile: each variant's operators and host syncs in one training step, and the goals on
// that proxy (issue 14): mola-2468 within 1.3x lora-r8's kernels (leaf calls that do work, about
// one kernel launch each on a GPU), and no host sync in a step.
json printProfile(const json& results) {
  std::printf(
      "\nper training step (LibTorch's RecordFunction, this device):\n%-16s %10s %10s %22s %6s  "
      "%s\n",
      "variant", "operators", "kernels", "forward/backward/optim", "syncs", "sync operators");
  for (const json& r : results) {
    const json& p = r.at("profile");
    std::string names;
    for (const auto& [name, count] : p.at("sync_ops").items())
      names += (names.empty() ? "" : ", ") + name + " x" + std::to_string(count.get<int64_t>());
    const std::string phases = std::to_string(p.at("forward_kernels").get<int64_t>()) + " / " +
                               std::to_string(p.at("backward_kernels").get<int64_t>()) + " / " +
                               std::to_string(p.at("optimizer_kernels").get<int64_t>());
    std::printf("%-16s %10lld %10lld %22s %6lld  %s\n", r.at("name").get<std::string>().c_str(),
                static_cast<long long>(p.at("ops").get<int64_t>()),
                static_cast<long long>(p.at("kernels").get<int64_t>()), phases.c_str(),
                static_cast<long long>(p.at("syncs").get<int64_t>()),
                names.empty() ? "-" : names.c_str());
  }
  const json* mola = findVariant(results, "mola-2468");
  const json* lora = findVariant(results, "lora-r8");
  json goals = json::array();
  if (mola && lora) {
    printKernelSurplus(mola->at("profile"), lora->at("profile"));
    const double ratio = double(mola->at("profile").at("kernels").get<int64_t>()) /
                         double(lora->at("profile").at("kernels").get<int64_t>());
    std::printf("mola-2468 / lora-r8 kernels: %.3f (target <= 1.30) %s\n", ratio,
                ratio <= 1.3 ? "PASS" : "FAIL");
    goals.push_back({{"name", "mola_over_lora_r8_kernels"},
                     {"value", ratio},
                     {"target", "<= 1.30"},
                     {"pass", ratio <= 1.3}});
  }
  if (mola) {
    const int64_t syncs = mola->at("profile").at("syncs").get<int64_t>();
    std::printf("host syncs in a mola-2468 step: %lld (target 0) %s\n",
                static_cast<long long>(syncs), syncs == 0 ? "PASS" : "FAIL");
    goals.push_back(
        {{"name", "mola_syncs_per_step"}, {"value", syncs}, {"target", "0"}, {"pass", syncs == 0}});
  }
  return goals;
}

// --variants, else every variant (but the per-expert loop, which no CUDA graph can capture).
std::vector<std::string> chosenVariants(const Args& args, const BenchSettings& s) {
  std::vector<std::string> out =
      args.get("--variants") ? parseVariants(*args.get("--variants")) : benchVariantNames();
  const auto loop = std::find(out.begin(), out.end(), "mola-2468-loop");
  if (s.run.cuda_graph && loop != out.end()) {
    if (args.get("--variants"))
      throw UsageError(
          "--cuda-graph: mola-2468-loop cannot be captured (its per-expert loop reads the "
          "routing on the host); leave it out of --variants");
    out.erase(loop);
  }
  return out;
}

// The child side: runs one variant and prints its result as one JSON line on stdout.
int runWorker(const std::string& variant, const BenchSettings& s, bool tty) {
  TrainStepBenchOptions o = s.run;
  // Started as one of --nproc's ranks: meet the others first.
  std::unique_ptr<RankGroup> group;
  if (const std::optional<DistEnv> env = distEnvFromEnvironment()) {
    group = std::make_unique<RankGroup>(*env, std::chrono::seconds(600));
    group->startBackend(deviceFromName(s.run.device));
    o.group = group.get();
    tty = tty && env->rank == 0;
  }
  if (tty)
    o.progress = [&](int step, int total, double ms) {
      std::fprintf(stderr, "\r\033[K  %s: step %d/%d%s, %.0f ms", variant.c_str(), step, total,
                   step <= s.run.warmup ? " (warm-up)" : "", ms);
      std::fflush(stderr);
    };
  faultPoint(("bench." + variant).c_str());
  const TrainStepBenchResult r = runTrainStepBench(variant, o);
  if (tty) std::fprintf(stderr, "\r\033[K");
  json j = {{"name", r.variant},
            {"tokens_per_s", r.tokens_per_s},
            {"ms_per_step", r.ms_per_step},
            {"trainable_params", r.trainable_params},
            {"step_ms", r.step_ms},
            {"final_loss", r.final_loss},
            {"cuda_graph", r.cuda_graph},
            {"cuda_peak_mb", r.cuda_peak_mb},
            {"rss_before_model_mb", r.rss_before_model_mb},
            {"vm_hwm_mb", processPeakRssMb()}};
  if (o.profile) j["profile"] = profileJson(r);
  std::cout << j.dump() << std::endl;
  if (group) group->close();
  return 0;
}

struct ChildOutput {
  json result;
  double ru_maxrss_mb = -1;
};

// Starts one worker with `argv` (rank dist->rank of a data-parallel bench when `dist` is given):
// rank 0's stdout into the pipe `fds`, the others' to /dev/null. Returns posix_spawn's error.
int spawnRank(std::vector<char*>& argv, const DistEnv* dist, const int fds[2],
              std::vector<pid_t>& pids) {
  std::vector<std::string> env_s;
  for (char** e = environ; *e; ++e) env_s.emplace_back(*e);
  if (dist)
    for (const auto& [name, value] : distEnvVariables(*dist)) env_s.push_back(name + "=" + value);
  std::vector<char*> envp;
  for (std::string& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  if (!dist || dist->rank == 0)
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  else
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addclose(&actions, fds[1]);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, "/proc/self/exe", &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc == 0) pids.push_back(pid);
  return rc;
}

// Spawns this executable as `mola bench --worker VARIANT ...`: a fresh process per variant, so
// that no variant inherits another's memory high-water mark or allocator state. With ranks > 1,
// that many workers as the ranks of one data-parallel run (torchrun's variables, a free loopback
// port); rank 0's result is the variant's.
ChildOutput spawnWorker(const std::string& variant, const BenchSettings& s, bool tty,
                        int ranks = 1) {
  const std::pair<const char*, std::string> options[] = {
      {"--worker", variant},
      {"--shape", s.shape_arg},
      {"--seq", std::to_string(s.run.seq)},
      {"--batch", std::to_string(s.run.batch)},
      {"--steps", std::to_string(s.run.steps)},
      {"--warmup", std::to_string(s.run.warmup)},
      {"--device", s.run.device},
      {"--dtype", s.run.dtype},
      {"--activation-checkpointing", s.run.activation_checkpointing ? "on" : "off"},
      {"--threads", std::to_string(s.threads)},
      {"--torch-threads", std::to_string(s.torch_threads)},
      {"--tty", tty ? "1" : "0"}};
  std::vector<std::string> argv_s = {"mola", "bench"};
  for (const auto& [key, value] : options) {
    argv_s.push_back(key);
    argv_s.push_back(value);
  }
  if (s.run.profile) argv_s.push_back("--profile");
  if (s.run.cuda_graph) argv_s.push_back("--cuda-graph");
  std::vector<char*> argv;
  for (std::string& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  DistEnv dist;
  dist.world = ranks;
  if (ranks > 1) dist.master_port = freeLoopbackPort();

  int fds[2];
  if (pipe(fds) != 0) throw std::runtime_error(std::string("bench: pipe: ") + std::strerror(errno));
  std::vector<pid_t> pids;
  for (int r = 0; r < ranks; ++r) {
    dist.rank = dist.local_rank = r;
    const int rc = spawnRank(argv, ranks > 1 ? &dist : nullptr, fds, pids);
    if (rc != 0) {
      close(fds[0]);
      close(fds[1]);
      for (pid_t p : pids) kill(p, SIGTERM);
      throw std::runtime_error("bench: cannot start a worker process for " + variant + ": " +
                               std::strerror(rc));
    }
  }
  close(fds[1]);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    out.append(buf, size_t(n));
  }
  close(fds[0]);
  ChildOutput c;
  for (size_t r = 0; r < pids.size(); ++r) {
    int status = 0;
    struct rusage usage {};
    while (wait4(pids[r], &status, 0, &usage) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      throw std::runtime_error("bench: variant " + variant +
                               (ranks > 1 ? " rank " + std::to_string(r) : "") + " failed (" +
                               (WIFEXITED(status)
                                    ? "exit status " + std::to_string(WEXITSTATUS(status))
                                    : "killed by signal " + std::to_string(WTERMSIG(status))) +
                               "; its message is above)");
    if (r == 0) c.ru_maxrss_mb = double(usage.ru_maxrss) / 1024.0;  // Linux: KiB
  }
  try {
    c.result = json::parse(out);
  } catch (const std::exception& e) {
    throw std::runtime_error("bench: variant " + variant + " printed no result (" + e.what() +
                             "): '" + out + "'");
  }
  return c;
}

struct Ratio {
  std::string label;
  std::string key;
  double value = NAN;
  bool at_most = true;  // value <= target, else value >= target
  double target = 0;
  bool known() const { return std::isfinite(value); }
  bool pass() const { return known() && (at_most ? value <= target : value >= target); }
};

const json* findVariant(const json& variants, const std::string& name) {
  for (const json& v : variants)
    if (v.at("name") == name) return &v;
  return nullptr;
}

std::vector<Ratio> ratiosOf(const json& variants, bool cuda) {
  auto field = [&](const std::string& name, const char* key) {
    const json* v = findVariant(variants, name);
    return v ? v->at(key).get<double>() : NAN;
  };
  std::vector<Ratio> r = {
      {"mola-2468 / lora-equal step time", "mola_over_lora_equal_time",
       field("mola-2468", "ms_per_step") / field("lora-equal", "ms_per_step"), true, 1.15},
      {"mola-2468 / base step time", "mola_over_base_time",
       field("mola-2468", "ms_per_step") / field("base", "ms_per_step"), true, 1.35},
      {"mola-2468 / mola-2468-loop tokens/s", "mola_over_loop_tokens",
       field("mola-2468", "tokens_per_s") / field("mola-2468-loop", "tokens_per_s"), false,
       cuda ? 3.0 : 1.5},
      {"mola-2468 / lora-equal peak memory", "mola_over_lora_equal_peak",
       field("mola-2468", "peak_mem_mb") / field("lora-equal", "peak_mem_mb"), true, 1.25}};
  return r;
}

std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

// --nproc N: each variant again as N ranks (each its own batch, gradients summed over Gloo or
// NCCL), printed against the one-process figure: efficiency = N-rank tokens/s / (N x 1-rank).
json measureScaling(const json& single, const BenchSettings& s, bool tty) {
  json out = json::array();
  for (size_t i = 0; i < single.size(); ++i) {
    const std::string v = single[i].at("name");
    if (!tty)
      std::fprintf(stderr, "[%zu/%zu] %s on %d ranks ...\n", i + 1, single.size(), v.c_str(),
                   s.nproc);
    const ChildOutput c = spawnWorker(v, s, tty, s.nproc);
    const double one = single[i].at("tokens_per_s").get<double>();
    const double many = c.result.at("tokens_per_s").get<double>();
    out.push_back({{"name", v},
                   {"processes", s.nproc},
                   {"tokens_per_s_1", one},
                   {"tokens_per_s_n", many},
                   {"ms_per_step_n", c.result.at("ms_per_step")},
                   {"efficiency", many / (double(s.nproc) * one)}});
  }
  const char* threads = s.torch_threads == 1 ? "thread" : "threads";
  std::printf(
      "\ndata-parallel scaling: %d ranks, each with %d %s and its own batch of %lld, "
      "against one process with %d %s\n",
      s.nproc, s.torch_threads, threads, static_cast<long long>(s.run.batch), s.torch_threads,
      threads);
  std::printf("%-16s %14s %14s %11s\n", "variant", "1 rank tok/s",
              (std::to_string(s.nproc) + " ranks tok/s").c_str(), "efficiency");
  for (const json& r : out)
    std::printf("%-16s %14.1f %14.1f %10.1f%%\n", r.at("name").get<std::string>().c_str(),
                r.at("tokens_per_s_1").get<double>(), r.at("tokens_per_s_n").get<double>(),
                100.0 * r.at("efficiency").get<double>());
  return out;
}

// The run's first lines: the shape and settings, then the machine.
void printHeader(const BenchSettings& s, const MachineInfo& machine, const ModelShape& shape) {
  std::printf(
      "mola bench: shape %s (%d layers, d_model %lld, ffn %lld, heads %d/%d, vocab %lld), "
      "seq %lld, batch %lld, %d timed steps after %d warm-up, device %s, %s%s%s\n",
      s.shape_arg.c_str(), shape.num_layers, static_cast<long long>(shape.d_model),
      static_cast<long long>(shape.ffn_dim), shape.num_heads, shape.num_kv_heads,
      static_cast<long long>(shape.vocab_size), static_cast<long long>(s.run.seq),
      static_cast<long long>(s.run.batch), s.run.steps, s.run.warmup, s.run.device.c_str(),
      s.run.dtype.c_str(), s.run.activation_checkpointing ? ", activation checkpointing" : "",
      s.run.cuda_graph ? ", each timed step a replay of one captured CUDA graph" : "");
  std::printf(
      "machine: %s%s, %d cores, threads: %d LibTorch, %d OpenBLAS, LibTorch %s, BLAS %s, "
      "load %.2f\n",
      machine.gpu.empty() ? "" : (machine.gpu + ", ").c_str(), machine.cpu_model.c_str(),
      machine.cores, machine.threads, machine.blas_threads, machine.torch_version.c_str(),
      machine.blas.c_str(), machine.load_average);
  std::fflush(stdout);
}

// Each variant in its own worker process; one result object per variant measured. A variant that
// fails (out of memory, a step that cannot be captured) goes into `failed` ({"name", "error"}),
// and the others are still measured.
json runVariants(const std::vector<std::string>& variants, const BenchSettings& s, bool tty,
                 json& failed) {
  json results = json::array();
  for (size_t i = 0; i < variants.size(); ++i) {
    const std::string& v = variants[i];
    if (!tty) {  // on a terminal the worker draws its own progress line
      std::fprintf(stderr, "[%zu/%zu] %s ...\n", i + 1, variants.size(), v.c_str());
      std::fflush(stderr);
    }
    ChildOutput c;
    try {
      c = spawnWorker(v, s, tty);
    } catch (const std::runtime_error& e) {
      std::fprintf(stderr, "[%zu/%zu] %s: %s\n", i + 1, variants.size(), v.c_str(), e.what());
      failed.push_back({{"name", v}, {"error", e.what()}});
      continue;
    }
    const json& w = c.result;
    const double cuda_peak = w.at("cuda_peak_mb").get<double>();
    const double hwm = w.at("vm_hwm_mb").get<double>();
    // CPU: the worker's own high-water mark (its address space since exec); ru_maxrss from wait4
    // is kept beside it as a cross-check.
    json r = {{"name", w.at("name")},
              {"tokens_per_s", w.at("tokens_per_s")},
              {"ms_per_step", w.at("ms_per_step")},
              {"peak_mem_mb", s.run.device == "cuda" ? cuda_peak : hwm},
              {"trainable_params", w.at("trainable_params")},
              {"peak_mem_kind", s.run.device == "cuda" ? "cuda_max_allocated" : "process_peak_rss"},
              {"rss_before_model_mb", w.at("rss_before_model_mb")},
              {"rss_growth_mb", hwm - w.at("rss_before_model_mb").get<double>()},
              {"ru_maxrss_mb", c.ru_maxrss_mb},
              {"step_ms", w.at("step_ms")},
              {"final_loss", w.at("final_loss")},
              {"cuda_graph", w.value("cuda_graph", false)}};
    if (w.contains("profile")) r["profile"] = w.at("profile");
    std::fprintf(stderr, "[%zu/%zu] %s: %.1f ms/step, %.1f tokens/s, peak %.0f MB\n", i + 1,
                 variants.size(), v.c_str(), r.at("ms_per_step").get<double>(),
                 r.at("tokens_per_s").get<double>(), r.at("peak_mem_mb").get<double>());
    std::fflush(stderr);
    results.push_back(r);
  }
  return results;
}

// The results table and the ratios against their targets; returns the ratios for the report.
json printResults(const json& results, const BenchSettings& s, const ModelShape& shape) {
  std::printf("\n%-16s %12s %12s %12s %14s %10s%s\n", "variant", "tokens/s", "ms/step",
              s.run.device == "cuda" ? "peak MiB" : "peak RSS MiB", "trainable", "TFLOP/s",
              s.peak_tflops > 0 ? "      MFU" : "");
  for (const json& r : results) {
    std::printf("%-16s %12.1f %12.1f %12.1f %14s %10.2f", r.at("name").get<std::string>().c_str(),
                r.at("tokens_per_s").get<double>(), r.at("ms_per_step").get<double>(),
                r.at("peak_mem_mb").get<double>(),
                thousands(r.at("trainable_params").get<int64_t>()).c_str(),
                r.at("model_tflops").get<double>());
    if (r.contains("mfu")) std::printf(" %7.1f%%", 100.0 * r.at("mfu").get<double>());
    std::printf("\n");
  }
  std::printf(
      "TFLOP/s: tokens/s x 4 x %.3g base parameters (forward and input gradients)%s\n",
      double(countBaseParameters(shape)),
      s.peak_tflops > 0 ? (", MFU against " + fmt("%g", s.peak_tflops) + " TFLOP/s").c_str() : "");
  std::printf("lora-equal is rank %d (closest to mola-2468's trainable parameters)\n",
              loraEqualRank(shape));

  const std::vector<Ratio> ratios = ratiosOf(results, s.run.device == "cuda");
  std::printf("\n%-38s %8s %9s  %s\n", "ratio", "value", "target", "result");
  json ratio_json = json::array();
  for (const Ratio& q : ratios) {
    const std::string target = (q.at_most ? "<= " : ">= ") + fmt("%.2f", q.target);
    std::printf("%-38s %8s %9s  %s\n", q.label.c_str(),
                q.known() ? fmt("%.3f", q.value).c_str() : "n/a", target.c_str(),
                q.known() ? (q.pass() ? "PASS" : "FAIL") : "not measured");
    ratio_json.push_back({{"name", q.key},
                          {"label", q.label},
                          {"value", q.known() ? json(q.value) : json(nullptr)},
                          {"target", target},
                          {"pass", q.known() ? json(q.pass()) : json(nullptr)}});
  }
  return ratio_json;
}

// The --json report: machine, shape and settings, then what was measured.
json reportJson(const MachineInfo& machine, const BenchSettings& s, const ModelShape& shape) {
  return {{"machine",
           {{"cpu", machine.cpu_model},
            {"cores", machine.cores},
            {"threads", machine.threads},
            {"torch", machine.torch_version},
            {"blas", machine.blas},
            {"device", machine.device},
            {"gpu", machine.gpu},
            {"load_average", machine.load_average},
            {"openblas_num_threads", machine.blas_threads}}},
          {"shape",
           {{"name", s.shape_arg},
            {"num_layers", shape.num_layers},
            {"d_model", shape.d_model},
            {"ffn_dim", shape.ffn_dim},
            {"num_heads", shape.num_heads},
            {"num_kv_heads", shape.num_kv_heads},
            {"vocab_size", shape.vocab_size},
            {"seq", s.run.seq},
            {"batch", s.run.batch},
            {"steps", s.run.steps},
            {"warmup", s.run.warmup},
            {"dtype", s.run.dtype},
            {"activation_checkpointing", s.run.activation_checkpointing},
            {"cuda_graph", s.run.cuda_graph}}},
          {"lora_equal_rank", loraEqualRank(shape)},
          {"flops_per_token", flopsPerToken(shape)},
          {"peak_tflops", s.peak_tflops > 0 ? json(s.peak_tflops) : json(nullptr)}};
}

// Writes through a temporary file, so that a reader never sees half a report.
void writeReport(const std::string& path, const json& doc) {
  const fs::path tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    out << doc.dump(2) << "\n";
    if (!out) throw std::runtime_error(tmp.string() + ": cannot write the JSON report");
  }
  fs::rename(tmp, path);
  std::fprintf(stderr, "wrote %s\n", path.c_str());
}

}  // namespace

int cmdBench(const Args& args) {
  args.allowOnly(kOptions);
  if (!args.positional.empty())
    throw UsageError("mola bench takes no positional argument, got '" + args.positional[0] + "'");
  BenchSettings s = parseSettings(args);
  // main() already set the threads up; --threads and --torch-threads override that for this run
  // and its workers.
  if (s.threads > 0 || s.torch_threads > 0) configureCpuRuntime(s.threads, s.torch_threads);
  if (auto worker = args.get("--worker")) return runWorker(*worker, s, args.get("--tty") == "1");
  if (s.run.device == "cuda" && !at::hasCUDA())
    throw std::runtime_error(
        "device cuda: no CUDA device is available (or LibTorch was built "
        "without CUDA); use --device cpu");
  const std::vector<std::string> variants = chosenVariants(args, s);
  for (const std::string& v : variants)
    benchVariantSpec(v, s.run.config.shape());  // shape too shallow?
  const auto json_path = args.get("--json");
  // Fail on an unwritable JSON path now, not after minutes of benchmarking.
  if (json_path && !std::ofstream(*json_path, std::ios::app))
    throw std::runtime_error(*json_path + ": cannot write the JSON report");

  const MachineInfo machine = MachineInfo::collect(s.run.device);
  const ModelShape shape = s.run.config.shape();
  const bool tty = isatty(STDERR_FILENO);
  printHeader(s, machine, shape);
  if (s.peak_tflops < 0 && s.run.device == "cuda" && s.run.dtype != "fp32")
    s.peak_tflops = gpuPeakHalfTflops(machine.gpu);
  json failed = json::array();
  json results = runVariants(variants, s, tty, failed);
  addModelFlops(results, s, shape);
  const json ratios = printResults(results, s, shape);
  const json profile_goals = s.run.profile ? printProfile(results) : json::array();
  const json scaling = s.nproc > 1 ? measureScaling(results, s, tty) : json::array();
  if (json_path) {
    json doc = reportJson(machine, s, shape);
    doc["variants"] = results;
    doc["ratios"] = ratios;
    if (!failed.empty()) doc["failed"] = failed;
    if (s.nproc > 1) doc["scaling"] = scaling;
    if (s.run.profile) doc["profile_goals"] = profile_goals;
    writeReport(*json_path, doc);
  }
  if (failed.empty()) return 0;
  std::fprintf(stderr, "mola bench: %zu of %zu variants failed:\n", failed.size(), variants.size());
  for (const json& f : failed)
    std::fprintf(stderr, "  %s: %s\n", f.at("name").get<std::string>().c_str(),
                 f.at("error").get<std::string>().c_str());
  return 1;
}

}  // namespace mola::cli
