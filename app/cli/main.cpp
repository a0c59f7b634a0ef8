// SPDX-License-Identifier: GPL-3.0-or-later
// mola: the headless command line of MoLA Workbench.
#include <ATen/ATen.h>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "adapters/adapter_file.h"
#include "adapters/allocation.h"
#include "adapters/mola_linear.h"
#include "cli_args.h"
#include "commands.h"
#include "model/model_probe.h"
#include "model/model_shape.h"
#include "rank_launcher.h"
#include "runtime.h"
#include "text.h"

namespace {

using mola::cli::Args;
using mola::cli::thousands;
using mola::cli::UsageError;

constexpr const char* kUsage = R"(mola - MoLA Workbench command line

usage:
  mola alloc SPEC [--shape NAME] [--rank R] [--top-k K] [--modules LIST]
                 [--method mola|moelora] [--tasks N] [--task-dim D]
      Shows how SPEC spreads experts over the layers of a model shape, and what it costs
      (--method moelora: experts of rank R / N under a task gate, N tasks, embedding width D).
      SPEC: a preset (inverted-triangle, square, triangle, hourglass, diamond, uniform-N),
      a group string (2-4-6-8) or one count per layer (2,2,4,4,...).
  mola adapter init --out FILE --alloc SPEC [--shape NAME] [--rank R] [--alpha A] [--top-k K]
                    [--modules LIST] [--seed S] [--random-b] [--bf16]
      Writes a freshly initialised adapter file (B = 0 unless --random-b).
  mola adapter inspect FILE [--shape NAME]
      Validates an adapter file and summarises it.
  mola adapter export-peft FILE --out DIR [--base NAME]
      Writes a plain-LoRA adapter (one expert per layer) as a PEFT adapter directory
      (adapter_config.json, adapter_model.safetensors) for transformers + PEFT.
  mola merge --model PATH --adapter FILE --out DIR [--dtype fp32|bf16]
      Merges a plain-LoRA adapter into the model's weights and writes a Hugging Face model
      directory (config.json, model.safetensors, the tokenizer's files).
  mola generate --model PATH [--tokenizer FILE] [--adapter FILE] [--prompt TEXT]
                [--max-new-tokens N] [--temperature T] [--top-p P] [--seed S]
                [--dtype fp32|bf16|fp16] [--device auto|cpu|cuda] [--task NAME]
      Prints the generated text on stdout (logs go to stderr); temperature 0 is greedy.
      --task: which of a MOELoRA adapter's tasks the prompt belongs to (required with one).
      PATH: a Hugging Face directory, a llama2.c .bin, or builtin:tiny[:SEED].
  mola data check FILE [--format NAME] [--split NAME]
      Reads a benchmark file: record count, format, choice counts, the first prompt; exits 1
      when rows had to be skipped (each is listed with file:line and the reason).
  mola eval --model PATH --data FILE [--adapter FILE] [--format NAME] [--tokenizer FILE]
            [--protocol likelihood|generate] [--score answer|text] [--limit N] [--batch N]
            [--template mola|compact|compact-text|qa] [--predictions FILE.tsv] [--task NAME]
  mola eval --run ID [--db FILE] --data FILE [the options above but --model/--adapter/--tokenizer]
      Scores a benchmark: accuracy, n, 95% confidence interval. --data synthetic:TASK[:N[:SEED]]
      uses the built-in synthetic task generator. --task as for generate.
      --run: the run's newest intact checkpoint, with its model, template, protocol and dtype
      (unless given); the score joins the run's evaluations in the database.
  mola route --model PATH [--adapter FILE] [--tokenizer FILE] --prompt TEXT [--layer N]
             [--module NAME] [--quantity gate|probability|selection] [--json FILE|-]
             [--dtype fp32|bf16|fp16] [--device auto|cpu|cuda]
  mola route --run ID [--db FILE] --prompt TEXT [the options above but --model/--adapter/--tokenizer]
  mola route (--run ID [--db FILE] | --model PATH ...) --serve
      Which experts each token of the text goes to: a row per token, a column per layer that
      routes, each cell the expert with the largest gate (averaged over the layer's modules, or
      of --module's). --layer N: that layer's gates (or --quantity) per token and expert.
      --json: every module's probabilities and gates per token ('-': on stdout, no table).
      --run: the run's newest intact checkpoint, as mola eval --run.
      --serve: keeps the model loaded and reads requests from standard input, one JSON object
      {"prompt": TEXT} a line, answering each with one line of JSON (the --json document, or
      {"error": WHY}) until the input ends.
  mola train EXPERIMENT.json [--db FILE] [--set key=value ...] [--nproc N]
      Trains as the experiment file says, into the run database (default: $MOLA_DB, else
      ~/.local/share/mola-workbench/runs.sqlite). Ctrl-C stops cleanly with a checkpoint.
      --nproc N (or training.processes): N data-parallel processes on this machine, each on its
      share of every batch (Gloo on CPUs, NCCL with one CUDA device per process). Started by
      torchrun or Slurm (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT set), mola train
      is one rank of theirs; rank 0 writes the database and the checkpoints.
  mola resume RUN_ID [--db FILE] [--nproc N]
      Continues a stopped, failed or interrupted run from its last checkpoint, with as many
      processes as it was started with.
  mola runs list [--search TEXT] [--study ID] | show ID | compare ID ID... [--against ID]
       | export ID [--csv DIR] [--peft DIR] | delete ID | tag ID TAG... [--remove TAG]
       | note ID TEXT  [--db FILE]
      --search keeps the runs whose name, note, tags, variant, allocation, model or status
      contain every word.
  mola study run STUDY.json|STUDY [--db FILE] [--set key=value ...] [--rerun VARIANT ...]
                 [--retry-failed]
      Queues every run of a study file (variants x seeds; see experiments/README.md) in the run
      database and trains them one after another. Killed or stopped and started again (with the
      file, its id or its name), it continues the unfinished runs and repeats no finished one;
      a study file with more seeds or variants adds only what is new. A variant whose settings
      changed in the file is refused unless --rerun VARIANT deletes its runs to queue it again.
  mola study add STUDY.json [--db FILE] [--set key=value ...] [--rerun VARIANT ...]
      Queues the study's runs without training them (for `mola queue run` workers).
  mola study show STUDY [--baseline VARIANT] [--runs] [--csv | --latex | --markdown] [--db FILE]
      Per variant: mean and 95% interval across seeds of the final and best accuracy, trainable
      parameters, tokens/s, and the difference from the baseline paired by seed (paired t-test).
  mola study list [--db FILE]
  mola queue list [--all] | run [--retry-failed] | cancel ITEM | move ITEM [--before ITEM]
             [--db FILE]
      The run queue in the database (studies' runs and runs queued in the workbench).
  mola advise RUN_ID --budget N [--min M] [--json] [--add-to STUDY [--name NAME]] [--db FILE]
  mola advise --model PATH --budget N [--beta B] [--modules LIST] [--min M] [--json]
      Proposes experts per layer, N in all (at least M per layer, default 2): from a pilot run's
      router statistics (how many experts each layer spread its load over), or training-free
      from the frozen weights' heavy-tail exponents (AlphaLoRA; share alpha^B, default 2.5).
      --add-to queues the proposal as one more variant of a study, for each of its seeds.
  mola bench [--device cpu|cuda] [--shape tiny|small|llama2-7b|FILE] [--seq N] [--batch N]
             [--steps N] [--warmup N] [--json FILE] [--variants a,b,...] [--threads N]
             [--torch-threads N] [--dtype fp32|bf16|fp16] [--activation-checkpointing on|off]
             [--nproc N] [--profile] [--cuda-graph] [--peak-tflops T]
      Times full training steps (forward, backward, AdamW) on random weights, each variant in its
      own process: tokens/s, ms/step (median), peak memory, trainable parameters, and the MoLA
      ratios against their targets. Variants: base, lora-r8, lora-equal, mola-2468,
      mola-2468-loop, mola-8888. Defaults: --shape small --seq 256 --batch 4 --steps 5 --warmup 2,
      --dtype fp32; bf16/fp16 as training runs them (half base, fp32 adapters, autocast);
      threads as every mola command sets them: one per core for OpenBLAS (the matrix products)
      and one for LibTorch's own ops (--torch-threads overrides that), or all for LibTorch when
      the BLAS is not OpenBLAS.
      --profile: one more step per variant counted through LibTorch's RecordFunction: operator
      calls, kernels (leaf calls that do work: about one launch each on a GPU) and host syncs
      (item, nonzero, ...), with the goals mola-2468 <= 1.3x lora-r8's kernels and no sync.
      --cuda-graph (CUDA, LibTorch 2.x): each timed step replays one captured CUDA graph.
      Model TFLOP/s count 4 x the base's parameters per token; MFU divides them by
      --peak-tflops, else by a known GPU's bf16 peak. A variant that fails is reported and the
      others still run (exit status 1).
  mola --version | --help | COMMAND --help

shapes: llama2-7b (default), small, tiny, stories260k, or a model path (HF directory, GGUF, .bin)
modules: a comma list of q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj, or all (default)
defaults: rank 8, alpha 16, top-k 2
)";

// The usage entries of `mola CMD` (every one of its subcommands), else the whole usage.
std::string commandUsage(const std::string& cmd) {
  const std::string usage = kUsage, head = "  mola " + cmd;
  std::string out;
  bool in_entry = false;
  for (size_t at = 0; at < usage.size();) {
    const size_t end = std::min(usage.find('\n', at), usage.size());
    const std::string line = usage.substr(at, end - at);
    at = end + 1;
    if (line.rfind("  mola ", 0) == 0)
      in_entry =
          line.rfind(head, 0) == 0 && (line.size() == head.size() || line[head.size()] == ' ');
    else if (line.rfind("    ", 0) != 0)
      in_entry = false;  // the lines after the entries
    if (in_entry) out += line + "\n";
  }
  return out.empty() ? usage : "usage:\n" + out;
}

mola::ModelShape shapeArg(const Args& args) {
  const std::string name = args.get("--shape", "llama2-7b");
  if (auto s = mola::ModelShape::named(name)) return *s;
  if (auto s = mola::probeModelShape(name)) return *s;  // a model's own path
  throw UsageError("unknown shape '" + name +
                   "' (llama2-7b, small, tiny, stories260k, or a model path: a Hugging Face "
                   "directory, a GGUF or llama2.c file)");
}

std::string bar(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += "\u2588";
  return s;
}

int cmdAlloc(const Args& args) {
  args.allowOnly(
      {"--shape", "--rank", "--top-k", "--modules", "--method", "--tasks", "--task-dim"});
  if (args.positional.size() != 1) throw UsageError("mola alloc takes one SPEC");
  const mola::ModelShape shape = shapeArg(args);
  const int rank = args.getNumber<int>("--rank", 8);
  const int top_k = args.getNumber<int>("--top-k", 2);
  const std::string method = args.get("--method", "mola");
  if (method != "mola" && method != "moelora")
    throw UsageError("--method must be mola or moelora, got '" + method + "'");
  const bool moelora = method == "moelora";
  const int tasks = args.getNumber<int>("--tasks", 1),
            task_dim = args.getNumber<int>("--task-dim", 64);
  if (rank < 1 || tasks < 1 || task_dim < 1)
    throw UsageError("--rank, --tasks and --task-dim must be at least 1");
  const auto modules = mola::parseTargetModules(args.get("--modules", "all"));
  const mola::Allocation alloc = mola::Allocation::parse(args.positional[0], shape.num_layers);
  for (int j = 0; moelora && j < alloc.numLayers(); ++j)
    if (rank % alloc.experts(j) != 0)
      throw UsageError("--rank " + std::to_string(rank) + " cannot be shared among the " +
                       std::to_string(alloc.experts(j)) + " experts of layer " +
                       std::to_string(j + 1) + " (MOELoRA gives each expert rank / N)");

  std::string label = alloc.describe();
  for (const auto& p : mola::Allocation::presets())
    if (label == p.name) label += " (" + std::string(p.paper_name) + ")";
  std::cout << "allocation: " << label << " over " << shape.num_layers << " layers\n";
  // Layer 1 at the bottom, as models are drawn in papers.
  for (int j = alloc.numLayers() - 1; j >= 0; --j) {
    std::printf("  layer %3d %s %d\n", j + 1, bar(alloc.experts(j)).c_str(), alloc.experts(j));
  }
  std::fflush(stdout);
  const auto count =
      moelora ? mola::countMoeLoraParameters(alloc, shape, rank, modules, tasks, task_dim)
              : mola::countTrainableParameters(alloc, shape, rank, modules);
  const int64_t base = mola::countBaseParameters(shape);
  const mola::ParameterCount per_rank = mola::countTrainableParameters(
      mola::Allocation::uniform(1, shape.num_layers), shape, 1, modules);
  std::printf("experts per module type: %lld (%lld in all over %zu modules)\n",
              static_cast<long long>(alloc.totalExperts()),
              static_cast<long long>(alloc.totalExperts() * int64_t(modules.size())),
              modules.size());
  std::printf("trainable parameters: %s (experts %s + %s %s), %.2f%% of the %s base\n",
              thousands(count.total()).c_str(), thousands(count.lora).c_str(),
              moelora ? "task embedding and gates" : "routers", thousands(count.router).c_str(),
              100.0 * double(count.total()) / double(base), thousands(base).c_str());
  std::printf("adapter memory: %.1f MiB in fp32 (%.1f MiB with AdamW state)\n",
              double(count.total()) * 4 / (1 << 20), double(count.total()) * 16 / (1 << 20));
  std::printf("plain LoRA with the same parameters: rank %.1f\n",
              double(count.total()) / double(per_rank.total()));
  if (moelora) {
    std::printf("MOELoRA: each expert of a layer with N experts has rank %d / N; %d task(s)\n",
                rank, tasks);
    return 0;
  }
  alloc.checkTopK(top_k);
  std::printf("top-k %d: fits every layer (smallest layer has %d experts)\n", top_k,
              alloc.minExperts());
  return 0;
}

int cmdAdapterInit(const Args& args) {
  args.allowOnly({"--out", "--alloc", "--shape", "--rank", "--alpha", "--top-k", "--modules",
                  "--seed", "--random-b", "--bf16"});
  const auto out = args.get("--out");
  const auto spec = args.get("--alloc");
  if (!out || !spec) throw UsageError("mola adapter init needs --out FILE and --alloc SPEC");
  const mola::ModelShape shape = shapeArg(args);
  mola::AdapterConfig config;
  config.allocation = mola::Allocation::parse(*spec, shape.num_layers);
  config.rank = args.getNumber<int>("--rank", 8);
  config.lora_alpha = args.getNumber<double>("--alpha", 16.0);
  config.top_k = config.allocation.maxExperts() == 1 ? 1 : args.getNumber<int>("--top-k", 2);
  config.target_modules = mola::parseTargetModules(args.get("--modules", "all"));
  config.allocation.checkTopK(config.top_k);
  if (config.rank < 1) throw UsageError("--rank must be at least 1");
  torch::manual_seed(static_cast<uint64_t>(args.getNumber<int>("--seed", 0)));

  // The file layout directly: A and routers Kaiming-uniform like MolaLinear::reset(), B zero.
  mola::AdapterTensors tensors;
  for (int j = 0; j < shape.num_layers; ++j) {
    const int64_t n = config.allocation.experts(j), r = config.rank;
    for (mola::TargetModule m : config.target_modules) {
      const mola::ModuleDims d = shape.dims(m);
      const double bound = 1.0 / std::sqrt(double(d.in_features));
      tensors[mola::adapterKeyA(j, m)] = at::empty({n, r, d.in_features}).uniform_(-bound, bound);
      tensors[mola::adapterKeyB(j, m)] = args.get("--random-b")
                                             ? at::randn({n, d.out_features, r}) * 0.02
                                             : at::zeros({n, d.out_features, r});
      if (n > 1)
        tensors[mola::adapterKeyRouter(j, m)] =
            at::empty({n, d.in_features}).uniform_(-bound, bound);
    }
  }
  mola::saveAdapterFile(*out, config, tensors,
                        args.get("--bf16") ? mola::AdapterDtype::BF16 : mola::AdapterDtype::F32);
  std::cerr << "wrote " << *out << "\n";
  return 0;
}

int cmdAdapterInspect(const Args& args) {
  args.allowOnly({"--shape"});
  if (args.positional.size() != 1) throw UsageError("mola adapter inspect takes one FILE");
  std::optional<mola::ModelShape> shape;
  if (args.get("--shape")) shape = shapeArg(args);
  const mola::LoadedAdapter a =
      mola::loadAdapterFile(args.positional[0], shape ? &*shape : nullptr);
  const mola::AdapterConfig& c = a.config;
  int64_t params = 0;
  for (const auto& [k, t] : a.tensors) params += t.numel();
  std::cout << "format: mola-adapter v1\n"
            << "allocation: " << c.allocation.describe() << " (" << c.allocation.toList() << ")\n"
            << "rank: " << c.rank << "  alpha: " << c.lora_alpha << "  top-k: " << c.top_k << "\n"
            << "target modules: " << mola::joinTargetModules(c.target_modules) << "\n";
  if (c.method == "moelora") {
    std::cout << "method: moelora (task-gated experts of rank r / N; task embedding width "
              << c.task_dim << ")\ntasks:";
    for (const std::string& t : c.tasks) std::cout << " " << t;
    std::cout << "\n";
  }
  std::cout << "tensors: " << a.tensors.size() << "  parameters: " << thousands(params) << "\n"
            << "per layer: experts, |B| (Frobenius norm over its modules; 0 = untrained)\n";
  for (int j = 0; j < c.allocation.numLayers(); ++j) {
    double sq = 0;
    for (mola::TargetModule m : c.target_modules)
      sq += a.tensors.at(mola::adapterKeyB(j, m)).pow(2).sum().item<double>();
    std::printf("  layer %3d  %3d  %.6g\n", j + 1, c.allocation.experts(j), std::sqrt(sq));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    mola::cli::setCommandLine(argc, argv);
    mola::configureCpuRuntime();
    const std::string cmd = argc > 1 ? argv[1] : "--help";
    if (cmd == "--help" || cmd == "-h" || cmd == "help") {
      std::cout << kUsage;
      return 0;
    }
    for (int i = 2; i < argc; ++i)
      if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") {
        std::cout << commandUsage(cmd);
        return 0;
      }
    if (cmd == "--version") {
      std::cout << "mola 0.1.0\n";
      return 0;
    }
    if (cmd == "alloc") return cmdAlloc(Args(argc, argv, 2, {}));
    if (cmd == "train") return mola::cli::cmdTrain(Args(argc, argv, 2, {}));
    if (cmd == "resume") return mola::cli::cmdResume(Args(argc, argv, 2, {}));
    if (cmd == "runs") return mola::cli::cmdRuns(Args(argc, argv, 3, {}), argc > 2 ? argv[2] : "");
    if (cmd == "bench")
      return mola::cli::cmdBench(Args(argc, argv, 2, {"--profile", "--cuda-graph"}));
    if (cmd == "study")
      return mola::cli::cmdStudy(
          Args(argc, argv, 3, {"--retry-failed", "--csv", "--latex", "--markdown", "--runs"}),
          argc > 2 ? argv[2] : "");
    if (cmd == "queue")
      return mola::cli::cmdQueue(Args(argc, argv, 3, {"--retry-failed", "--all"}),
                                 argc > 2 ? argv[2] : "");
    if (cmd == "advise") return mola::cli::cmdAdvise(Args(argc, argv, 2, {"--json"}));
    if (cmd == "generate") return mola::cli::cmdGenerate(Args(argc, argv, 2, {}));
    if (cmd == "eval") return mola::cli::cmdEval(Args(argc, argv, 2, {}));
    if (cmd == "route") return mola::cli::cmdRoute(Args(argc, argv, 2, {"--serve"}));
    if (cmd == "merge") return mola::cli::cmdMerge(Args(argc, argv, 2, {}));
    if (cmd == "data") {
      const std::string sub = argc > 2 ? argv[2] : "";
      if (sub == "check") return mola::cli::cmdDataCheck(Args(argc, argv, 3, {}));
      throw UsageError("mola data expects check");
    }
    if (cmd == "adapter") {
      const std::string sub = argc > 2 ? argv[2] : "";
      if (sub == "init") return cmdAdapterInit(Args(argc, argv, 3, {"--random-b", "--bf16"}));
      if (sub == "inspect") return cmdAdapterInspect(Args(argc, argv, 3, {}));
      if (sub == "export-peft") return mola::cli::cmdAdapterExportPeft(Args(argc, argv, 3, {}));
      throw UsageError("mola adapter expects init, inspect or export-peft");
    }
    throw UsageError("unknown command '" + cmd + "'");
  } catch (const UsageError& e) {
    std::cerr << "mola: " << mola::printableText(e.what()) << "\n(run 'mola --help' for usage)\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "mola: error: " << mola::printableText(e.what()) << "\n";
    return 1;
  }
}
