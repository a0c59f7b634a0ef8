// SPDX-License-Identifier: GPL-3.0-or-later
// ExperimentConfig: the one JSON document that fully describes a run (torch-free).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace mola {

// The document (every key optional except data.train.path; an absent key keeps the default
// below; experimentToJson writes every key in this order):
//
//   {
//     "name": "experiment",
//     "model": {"path": "builtin:tiny", "tokenizer": "", "device": "auto", "dtype": "fp32"},
//     "adapter": {"method": "mola", "allocation": "inverted-triangle", "rank": 8, "alpha": 16.0,
//                 "top_k": 2, "dropout": 0.05, "target_modules": ["q_proj", ..., "down_proj"],
//                 "balance_coefficient": 0.001, "task_embedding_dim": 64},
//     "data": {"train": {"path": "...", "format": "", "split": "", "limit": 0},
//              "eval": {"path": "", "format": "", "split": "", "limit": 0},
//              "tasks": [],
//              "prompt_template": "mola", "cutoff": 256, "train_on_prompt": true},
//     "training": {"batch_size": 4, "grad_accumulation": 1, "epochs": 1, "max_steps": 0,
//                  "seed": 42, "grad_clip": 1.0, "activation_checkpointing": false,
//                  "group_by_length": false,
//                  "optimizer": {"name": "adamw", "lr": 0.0003, "betas": [0.9, 0.999],
//                                "weight_decay": 0.0, "eps": 1e-08, "momentum": 0.0,
//                                "preconditioner": "none", "damping": 1e-06,
//                                "gate_rescaling": true},
//                  "schedule": {"type": "linear", "warmup_steps": 100}},
//     "evaluation": {"protocol": "likelihood", "interval": 0},
//     "checkpoint_interval": 0,
//     "keep_checkpoints": 0,
//     "router_stats_interval": 10
//   }
//
// Struct field <-> key: model.path = model, training.optimizer.lr = lr, betas = [beta1, beta2],
// training.optimizer.eps = adam_eps, training.schedule.type = schedule, evaluation.protocol =
// eval_protocol, evaluation.interval = eval_interval; the rest share their names.
// Rules: unknown keys anywhere are errors (with the nearest valid key when one is close); integers
// must be whole numbers; target modules may be written short ("q") and are stored in full
// ("q_proj"); the allocation must parse as a preset, group string or per-layer list (a per-layer
// list is checked against the model's depth later, when the model is loaded). With method "lora"
// (N = 1, K = 1, no router) allocation and top_k are ignored; with "full" every adapter key is;
// with "moelora" top_k and balance_coefficient are (its gate is dense and has no load to balance).
// data.tasks: a multi-task mix, [{"name": "arith", "id": 0, "train": {...}, "eval": {...}}, ...]
// (id defaults to the position); with tasks, data.train and data.eval stay empty.

// A data set: a benchmark file (path + optional format/split), or "synthetic:TASK[:N[:SEED]]".
struct DataSpec {
  std::string path;
  std::string format;  // empty: detect from the content
  std::string split;   // ScienceQA's split; empty: all
  size_t limit = 0;    // 0: every record
};

// How reports name a data source: a synthetic: spec by itself, a file by its file name.
std::string dataSourceName(const DataSpec& d);

// One task of a multi-task mix: its training set, its evaluation set (may be empty), a name for
// reports and an id (unique among the tasks). MOELoRA's gate reads the task; every method's
// evaluation reports each task and their mean.
struct TaskSpec {
  std::string name;
  int id = 0;
  DataSpec train;
  DataSpec eval;
};

// Defaults are MoLA's reference settings (DESIGN.md) where MoLA has one.
struct ExperimentConfig {
  std::string name = "experiment";

  // Model
  std::string model = "builtin:tiny";  // HF directory, llama2.c .bin, or builtin:tiny[:SEED]
  std::string tokenizer;               // overrides the model's tokenizer; empty: the model's own
  std::string device = "auto";         // auto | cpu | cuda
  std::string dtype = "fp32";          // fp32 | bf16 | fp16 (base weights and compute)

  // Adapter
  // mola | lora (N = 1, K = 1, no router) | full (all weights) | moelora (MOELoRA: a dense gate
  // over each layer's N experts of rank r / N, conditioned on the task, not the token)
  std::string method = "mola";
  std::string allocation = "inverted-triangle";  // preset, group string or per-layer list
  int rank = 8;
  double alpha = 16.0;
  int top_k = 2;
  double dropout = 0.05;
  std::vector<std::string> target_modules = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                             "gate_proj", "up_proj", "down_proj"};
  double balance_coefficient = 0.001;  // 0 turns the load-balancing loss off
  int task_embedding_dim = 64;         // moelora: the width of the learned task embedding

  // Data
  DataSpec train;
  DataSpec eval;                         // empty path: no evaluation
  std::vector<TaskSpec> tasks;           // a multi-task mix instead of train / eval
  std::string prompt_template = "mola";  // mola (Alpaca-style) | compact
  size_t cutoff = 256;                   // tokens per example
  bool train_on_prompt = true;           // MoLA puts loss on the prompt tokens too

  // Optimisation
  int batch_size = 4;
  int grad_accumulation = 1;
  int epochs = 1;
  int max_steps = 0;  // optimizer steps; 0: derived from epochs
  double lr = 3e-4;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double weight_decay = 0.0;
  double adam_eps = 1e-8;
  std::string optimizer = "adamw";  // adamw | sgd
  double momentum = 0.0;            // sgd
  // riemannian: each expert's A gradient is multiplied by (B_i^T B_i + damping I)^-1 and its B
  // gradient by (A_i A_i^T + damping I)^-1 before the optimizer's step (Zhang & Pilanci; Sun et
  // al., ICML 2025), and with gate_rescaling (method mola) an expert's gradient is weighted by
  // sqrt(g) of its gate instead of g (the forward is unchanged).
  std::string preconditioner = "none";  // none | riemannian
  double damping = 1e-6;
  bool gate_rescaling = true;
  std::string schedule = "linear";  // linear | cosine | constant (after warmup)
  int warmup_steps = 100;
  double grad_clip = 1.0;  // max global grad norm; 0: off
  uint64_t seed = 42;
  // Recompute each layer in the backward pass instead of keeping its activations
  // (LlamaModelImpl::setActivationCheckpointing): less memory, one more forward per step.
  bool activation_checkpointing = false;
  // Batches of examples of similar length (groupByLength in train/training_data.h): less padding,
  // so fewer tokens per step, at the cost of batches less mixed than a plain shuffle's.
  bool group_by_length = false;
  // Data-parallel processes (ranks) training together, each on its share of every batch
  // (batch_size is the global batch). `mola train` starts them on this machine; under torchrun
  // (WORLD_SIZE set) the launcher's count wins and is recorded here.
  int processes = 1;

  // Evaluation, checkpoints, statistics (intervals in optimizer steps; 0: only at the end)
  std::string eval_protocol = "likelihood";  // likelihood | generate
  int eval_interval = 0;
  int checkpoint_interval = 0;
  // How many of the run's newest checkpoints stay on disk and in the store; 0: every one.
  int keep_checkpoints = 0;
  int router_stats_interval = 10;
};

// Parses and validates an experiment document. Unknown keys, wrong types and values outside the
// allowed set are errors (std::invalid_argument) that name the source, the dotted key and what is
// allowed; malformed JSON names source:line:column. Keys that are absent keep the defaults above.
// Paths are kept as written.
ExperimentConfig parseExperiment(const std::string& json_text, const std::string& source = "");
// Reads and parses `file`, then resolves its relative paths against the file's directory (see
// resolveExperimentPaths). A missing or unreadable file is a std::invalid_argument too.
ExperimentConfig loadExperiment(const std::filesystem::path& file);
// The canonical document (every key, nested as parseExperiment reads it); parse(toJson(c)) == c.
std::string experimentToJson(const ExperimentConfig& config);
// Applies one --set override "dotted.key=value" (value parsed as JSON when it is valid JSON,
// else as a string), then validates; errors name the key. The key is a path into the canonical
// document (training.optimizer.lr, data.eval.path, model=... replaces a whole group). Where the
// key holds a string, the text is taken as written even when it is valid JSON (name=2024,
// adapter.allocation=8); where it holds a list of strings, non-JSON text is split on commas
// (adapter.target_modules=q,v). Paths in overrides are kept as written (relative to the working
// directory). On error `config` is unchanged.
void applyExperimentOverride(ExperimentConfig& config, const std::string& assignment);
// Several overrides at once, in order, validated together at the end: keys that must change
// together (data.tasks with data.train.path emptied, adapter.method with an allocation it needs)
// may be given in any order. On error `config` is unchanged.
void applyExperimentOverrides(ExperimentConfig& config,
                              const std::vector<std::string>& assignments);
// Checks every value's range and enumeration, and the cross-field rules that need no model
// (top_k <= the fewest experts the allocation gives a layer, for method "mola"; a per-layer list's
// length is checked against the model later); throws std::invalid_argument naming the key.
void validateExperiment(const ExperimentConfig& config);
// Makes the relative paths in model, tokenizer, train.path and eval.path absolute against
// `base_dir` (an empty base: the working directory), and "~/..." the user's home; "builtin:" and
// "synthetic:" names stay.
// loadExperiment applies it with the experiment file's own directory. (Added for callers that
// parse text read elsewhere, e.g. the GUI.)
void resolveExperimentPaths(ExperimentConfig& config, const std::filesystem::path& base_dir);
// The tasks a run trains on: data.tasks, or one task (id 0) made of data.train and data.eval,
// named after the training source.
std::vector<TaskSpec> experimentTasks(const ExperimentConfig& config);

// The benchmark name of the mean over a multi-task run's tasks.
inline constexpr const char* kMeanOfTasks = "mean of tasks";
// The benchmark a run's training reports its scores on, as its evaluation names them: data.eval's
// source name; with tasks, the one evaluated task's name, or kMeanOfTasks for two or more; empty
// when nothing is evaluated.
std::string evaluatedBenchmark(const ExperimentConfig& config);
// The name a task's evaluation set is reported under: its source name for a single data set, the
// task's name in a multi-task mix.
std::string taskBenchmarkName(const ExperimentConfig& config, const TaskSpec& task);

bool operator==(const DataSpec& a, const DataSpec& b);
bool operator==(const TaskSpec& a, const TaskSpec& b);
bool operator==(const ExperimentConfig& a, const ExperimentConfig& b);

}  // namespace mola
