// SPDX-License-Identifier: GPL-3.0-or-later
// ExperimentConfig: the one JSON document that fully describes a run (torch-free).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace mola {

// A data set: a benchmark file (path + optional format/split), or "synthetic:TASK[:N[:SEED]]".
struct DataSpec {
  std::string path;
  std::string format;  // empty: detect from the content
  std::string split;   // ScienceQA's split; empty: all
  size_t limit = 0;    // 0: every record
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
  std::string method = "mola";  // mola | lora (N = 1, K = 1, no router) | full (all weights)
  std::string allocation = "inverted-triangle";  // preset, group string or per-layer list
  int rank = 8;
  double alpha = 16.0;
  int top_k = 2;
  double dropout = 0.05;
  std::vector<std::string> target_modules = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                             "gate_proj", "up_proj", "down_proj"};
  double balance_coefficient = 0.001;  // 0 turns the load-balancing loss off

  // Data
  DataSpec train;
  DataSpec eval;                     // empty path: no evaluation
  std::string prompt_template = "mola";  // mola (Alpaca-style) | compact
  size_t cutoff = 256;               // tokens per example
  bool train_on_prompt = true;       // MoLA puts loss on the prompt tokens too

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
  std::string schedule = "linear";  // linear | cosine | constant (after warmup)
  int warmup_steps = 100;
  double grad_clip = 1.0;  // max global grad norm; 0: off
  uint64_t seed = 42;

  // Evaluation, checkpoints, statistics (intervals in optimizer steps; 0: only at the end)
  std::string eval_protocol = "likelihood";  // likelihood | generate
  int eval_interval = 0;
  int checkpoint_interval = 0;
  int router_stats_interval = 10;
};

// Parses and validates an experiment document. Unknown keys, wrong types and values outside the
// allowed set are errors (std::invalid_argument) that name the source, the dotted key and what is
// allowed. Keys that are absent keep the defaults above.
ExperimentConfig parseExperiment(const std::string& json_text, const std::string& source = "");
ExperimentConfig loadExperiment(const std::filesystem::path& file);
// The canonical document (every key, nested as parseExperiment reads it); parse(toJson(c)) == c.
std::string experimentToJson(const ExperimentConfig& config);
// Applies one --set override "dotted.key=value" (value parsed as JSON when it is valid JSON,
// else as a string), then validates; errors name the key.
void applyExperimentOverride(ExperimentConfig& config, const std::string& assignment);
// Checks cross-field rules (e.g. top_k <= the smallest layer's experts is checked later, against
// the model); throws std::invalid_argument naming the key.
void validateExperiment(const ExperimentConfig& config);

bool operator==(const DataSpec& a, const DataSpec& b);
bool operator==(const ExperimentConfig& a, const ExperimentConfig& b);

}  // namespace mola
