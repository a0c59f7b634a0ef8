// SPDX-License-Identifier: GPL-3.0-or-later
// StudySpec: a base experiment crossed with variants and seeds, read from a study file
// (torch-free).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "experiment/experiment_config.h"

namespace mola {

// The study file (every key optional except name and base):
//
//   {
//     "name": "quickstart-allocations",
//     "base": "quickstart.json",             // an experiment file (relative to this file) or
//                                            // an experiment document written in
//     "set": {"training.max_steps": 150},    // overrides applied to the base
//     "allocations": ["2-4-6-8", "square", "lora-equal"],
//     "grid": {"training.optimizer.lr": [0.01, 0.003]},
//     "variants": [{"name": "no-balance", "set": {"adapter.balance_coefficient": 0}}],
//     "advise": [{"name": "advisor", "strategy": "spectra", "budget": 20}],
//     "seeds": [1, 2, 3, 4, 5],
//     "baseline": "square"
//   }
//
// Variants: one per allocation (method mola with that allocation: a preset, group string or
// per-layer list; "lora-equal" is plain LoRA whose rank gives it the trainable parameters of the
// first allocation in the list, named "lora-rR"; "lora-rR" is plain LoRA of rank R; plain LoRA's
// alpha is scaled with its rank, keeping the base's alpha / rank), each crossed
// with every combination of the grid's values (named "2-4-6-8 lr=0.003"; with no allocations the
// grid crosses the base alone), then the named variants, then the advisor's proposals (resolved
// by the caller, which can read the model: resolveAdvice). Every variant runs once per seed
// (training.seed; default: the base's seed). The baseline (default: the first variant) is what
// `mola study show` compares the others with. Keys in "set", "grid" and variants are the dotted
// keys of `mola train --set`.
struct StudyVariant {
  std::string name;
  std::vector<std::string> overrides;  // "dotted.key=value", applied in order
  std::string description;             // how it came about (advisor reasoning, LoRA rank)
};

// An advisor proposal the study asks for (core/study/advisor.h).
struct AdviceRequest {
  std::string name;       // the variant's name (default "advisor-STRATEGY")
  std::string strategy;   // spectra | router
  int budget = 0;         // experts in all (0: the first allocation's total)
  double beta = 2.5;      // spectra: the exponent on the layer's heavy-tail exponent
  int64_t pilot_run = 0;  // router: the pilot run in the study's database
};

struct StudySpec {
  std::string name;
  ExperimentConfig base;  // with "set" applied
  std::vector<StudyVariant> variants;
  std::vector<AdviceRequest> advice;
  std::vector<uint64_t> seeds;
  std::string baseline;
};

// Parses a study document; relative paths (the base file, the base's model and data) resolve
// against `base_dir`. Errors (std::invalid_argument) name the source and the key.
StudySpec parseStudy(const std::string& json_text, const std::string& source,
                     const std::filesystem::path& base_dir);
// Reads and parses `file` (a missing or unreadable file is an std::invalid_argument too).
StudySpec loadStudy(const std::filesystem::path& file);

// One run of the study.
struct StudyRun {
  std::string variant;
  uint64_t seed = 0;
  ExperimentConfig config;  // named "STUDY/VARIANT/seedS"
};
// Every variant (advice resolved) for every seed, variant by variant; overrides are checked
// (an error names the variant and the key).
std::vector<StudyRun> expandStudy(const StudySpec& spec);
// The study as stored with its runs: name, base (the canonical experiment), variants with their
// overrides and descriptions, seeds, baseline.
std::string studyToJson(const StudySpec& spec);

// The trainable parameters of `config`'s adapters (MoLA or plain LoRA, routers included; the
// whole model for method "full"), the model's shape read from its header; nullopt when it
// cannot be read.
std::optional<int64_t> adapterParameters(const ExperimentConfig& config);
// The plain-LoRA rank whose trainable parameters come nearest to `config`'s MoLA adapters (the
// model's shape read from its header); std::invalid_argument when the shape cannot be read.
int equalParameterLoraRank(const ExperimentConfig& config);

}  // namespace mola
