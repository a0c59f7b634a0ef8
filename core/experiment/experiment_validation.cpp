// SPDX-License-Identifier: GPL-3.0-or-later
// validateExperiment: the rules an ExperimentConfig obeys, on the struct, so the GUI's form checks
// what the file reader checks.
#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "adapters/allocation.h"
#include "data/prompt_template.h"
#include "data/qa_importer.h"
#include "data/synthetic_qa.h"
#include "experiment/experiment_config.h"
#include "experiment/experiment_text.h"
#include "model/model_shape.h"
#include "text.h"

namespace mola {

namespace {

using namespace experiment_detail;
using Json = nlohmann::ordered_json;

void checkOneOf(const std::string& key, const std::string& value,
                const std::vector<std::string>& allowed) {
  if (std::find(allowed.begin(), allowed.end(), value) != allowed.end()) return;
  const auto near = nearest(value, allowed);
  fail(key, inQuotes(value) + " is not one of " + joinList(allowed) +
                (near ? " (did you mean '" + *near + "'?)" : ""));
}

void checkAtLeast(const std::string& key, int64_t value, int64_t min) {
  if (value < min)
    fail(key, "must be at least " + std::to_string(min) + " (got " + std::to_string(value) + ")");
}

std::string formatNumber(double v) {
  return Json(v).dump();
}

void checkFinite(const std::string& key, double value) {
  if (!std::isfinite(value)) fail(key, "must be a finite number (got " + formatNumber(value) + ")");
}

// lo <= value (or lo < value when !lo_closed), and value < hi when hi is given.
void checkRange(const std::string& key, double value, double lo, bool lo_closed,
                std::optional<double> hi = std::nullopt) {
  checkFinite(key, value);
  const bool ok_lo = lo_closed ? value >= lo : value > lo;
  const bool ok_hi = !hi || value < *hi;
  if (ok_lo && ok_hi) return;
  std::string range = (lo_closed ? ">= " : "> ") + formatNumber(lo);
  if (hi)
    range = (lo_closed ? formatNumber(lo) + " <= x < " : formatNumber(lo) + " < x < ") +
            formatNumber(*hi);
  fail(key, "must be " + range + " (got " + formatNumber(value) + ")");
}

bool allDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char ch) {
    return std::isdigit(static_cast<unsigned char>(ch));
  });
}

// "builtin:tiny-pretrained" (the cached pretrained base), or "builtin:tiny" / "builtin:tiny:SEED"
// (a random one), as loadModelOrBuiltin reads them.
void checkModelPath(const std::string& path) {
  if (path.empty())
    fail("model.path", "must not be empty (a model directory, a .bin file, or builtin:tiny)");
  if (path.rfind(kBuiltinPrefix, 0) != 0) return;
  const std::string rest = path.substr(std::string_view(kBuiltinPrefix).size());
  if (rest == "tiny" || rest == "tiny-pretrained" ||
      (rest.rfind("tiny:", 0) == 0 && allDigits(rest.substr(5))))
    return;
  fail("model.path", inQuotes(path) +
                         " is not a built-in model; use builtin:tiny-pretrained, builtin:tiny or "
                         "builtin:tiny:SEED");
}

// "synthetic:TASK[:N[:SEED]]".
void checkSyntheticPath(const std::string& key, const std::string& path) {
  std::vector<std::string> parts;
  std::string_view rest = std::string_view(path).substr(std::string_view(kSyntheticPrefix).size());
  while (true) {
    const size_t colon = rest.find(':');
    parts.emplace_back(rest.substr(0, colon));
    if (colon == std::string_view::npos) break;
    rest.remove_prefix(colon + 1);
  }
  const std::string form = "synthetic:TASK[:COUNT[:SEED]]";
  if (parts.size() > 3) fail(key, inQuotes(path) + " has too many parts; expected " + form);
  const std::vector<std::string> tasks = syntheticTaskNames();
  if (std::find(tasks.begin(), tasks.end(), parts[0]) == tasks.end()) {
    const auto near = nearest(parts[0], tasks);
    fail(key, "unknown synthetic task " + inQuotes(parts[0]) + " in " + inQuotes(path) +
                  "; tasks: " + joinList(tasks) + (near ? " (did you mean '" + *near + "'?)" : ""));
  }
  if (parts.size() > 1 && (!allDigits(parts[1]) || parts[1].size() > 9 || std::stol(parts[1]) < 1))
    fail(key,
         "the record count in " + inQuotes(path) + " must be a whole number >= 1 (" + form + ")");
  if (parts.size() > 2 && (!allDigits(parts[2]) || parts[2].size() > 19))
    fail(key, "the seed in " + inQuotes(path) + " must be a whole number (" + form + ")");
}

void checkData(const std::string& prefix, const DataSpec& d, bool required) {
  if (d.path.empty()) {
    if (required)
      fail(prefix + ".path",
           "is required: a benchmark file or synthetic:TASK[:COUNT[:SEED]] (tasks: " +
               joinList(syntheticTaskNames()) + ")");
    return;
  }
  if (d.path.rfind(kSyntheticPrefix, 0) == 0) {
    checkSyntheticPath(prefix + ".path", d.path);
    if (!d.format.empty())
      fail(prefix + ".format", "must be empty for synthetic data (got " + inQuotes(d.format) + ")");
    return;
  }
  if (!d.format.empty()) {
    std::vector<std::string> formats = qaFormats();
    if (std::find(formats.begin(), formats.end(), d.format) == formats.end()) {
      const auto near = nearest(d.format, formats);
      fail(prefix + ".format", inQuotes(d.format) + " is not one of " + joinList(formats) +
                                   " (or empty: detect it from the content)" +
                                   (near ? "; did you mean '" + *near + "'?" : ""));
    }
  }
}

void checkAllocation(const ExperimentConfig& c) {
  const std::string spec(trimWhitespace(c.allocation));
  // The depth is unknown until the model loads: a list fixes its own; presets and group strings
  // give every layer one of their counts at any depth of at least the group count.
  int layers = 32;
  if (spec.find(',') != std::string::npos)
    layers = static_cast<int>(std::count(spec.begin(), spec.end(), ',')) + 1;
  else
    layers = std::max(layers, static_cast<int>(std::count(spec.begin(), spec.end(), '-')) + 1);
  Allocation allocation;
  try {
    allocation = Allocation::parse(spec, layers);
  } catch (const std::invalid_argument& e) {
    std::string what = e.what();
    if (what.find("expected") == std::string::npos)
      what +=
          " (expected a preset: inverted-triangle, square, triangle, hourglass, diamond, "
          "uniform-N; a group string such as 2-4-6-8; or one count per layer such as 2,4,6,8)";
    fail("adapter.allocation", what);
  }
  if (c.method == "moelora")
    for (int n : allocation.perLayer())
      if (c.rank % n != 0)
        fail("adapter.rank", std::to_string(c.rank) + " cannot be shared among " +
                                 std::to_string(n) + " experts (adapter.allocation " +
                                 inQuotes(c.allocation) +
                                 "): MOELoRA gives each of a layer's N experts rank r / N, so "
                                 "the rank must be a multiple of every layer's expert count");
  if (c.method == "mola" && c.top_k > allocation.minExperts())
    fail("adapter.top_k", std::to_string(c.top_k) + " exceeds the " +
                              std::to_string(allocation.minExperts()) +
                              " experts that adapter.allocation " + inQuotes(c.allocation) +
                              " gives its smallest layer; lower top_k or give every layer at "
                              "least " +
                              std::to_string(c.top_k) + " experts");
}

void checkTasks(const ExperimentConfig& c) {
  if (c.tasks.empty()) return;
  if (!c.train.path.empty() || !c.eval.path.empty())
    fail(c.train.path.empty() ? "data.eval.path" : "data.train.path",
         "must be empty when data.tasks lists the tasks (each task has its own train and eval)");
  std::set<std::string> names;
  std::set<int> ids;
  for (size_t i = 0; i < c.tasks.size(); ++i) {
    const TaskSpec& t = c.tasks[i];
    const std::string key = "data.tasks[" + std::to_string(i) + "]";
    if (trimWhitespace(t.name).empty()) fail(key + ".name", "must not be empty");
    if (!names.insert(t.name).second) fail(key + ".name", inQuotes(t.name) + " is used twice");
    checkAtLeast(key + ".id", t.id, 0);
    if (!ids.insert(t.id).second)
      fail(key + ".id", std::to_string(t.id) + " is the id of an earlier task too");
    checkData(key + ".train", t.train, true);
    checkData(key + ".eval", t.eval, false);
  }
}

}  // namespace

void validateExperiment(const ExperimentConfig& c) {
  if (trimWhitespace(c.name).empty()) fail("name", "must not be empty");

  checkModelPath(c.model);
  checkOneOf("model.device", c.device, kDevices);
  checkOneOf("model.dtype", c.dtype, kDtypes);

  checkOneOf("adapter.method", c.method, kMethods);
  checkAtLeast("adapter.rank", c.rank, 1);
  checkRange("adapter.alpha", c.alpha, 0.0, false);
  checkAtLeast("adapter.top_k", c.top_k, 1);
  checkRange("adapter.dropout", c.dropout, 0.0, true, 1.0);
  if (c.target_modules.empty())
    fail("adapter.target_modules",
         "must list at least one of q_proj, k_proj, v_proj, o_proj, "
         "gate_proj, up_proj, down_proj");
  std::vector<std::string> all;
  for (TargetModule t : kAllTargetModules) all.emplace_back(targetModuleName(t));
  std::set<std::string> seen;
  for (size_t i = 0; i < c.target_modules.size(); ++i) {
    checkOneOf("adapter.target_modules[" + std::to_string(i) + "]", c.target_modules[i], all);
    if (!seen.insert(c.target_modules[i]).second)
      fail("adapter.target_modules", inQuotes(c.target_modules[i]) + " is listed twice");
  }
  checkRange("adapter.balance_coefficient", c.balance_coefficient, 0.0, true);
  checkAtLeast("adapter.task_embedding_dim", c.task_embedding_dim, 1);
  checkAllocation(c);

  checkData("data.train", c.train, c.tasks.empty());
  checkData("data.eval", c.eval, false);
  checkTasks(c);
  checkOneOf("data.prompt_template", c.prompt_template, PromptTemplate::names());
  if (c.cutoff < kMinCutoff)
    fail("data.cutoff", "must be at least " + std::to_string(kMinCutoff) + " (got " +
                            std::to_string(c.cutoff) + ")");

  checkAtLeast("training.batch_size", c.batch_size, 1);
  checkAtLeast("training.grad_accumulation", c.grad_accumulation, 1);
  checkAtLeast("training.processes", c.processes, 1);
  if (c.batch_size < c.processes)
    fail("training.batch_size",
         "is the global batch and must give each of the " + std::to_string(c.processes) +
             " processes at least one example (got " + std::to_string(c.batch_size) + ")");
  checkAtLeast("training.epochs", c.epochs, 1);
  checkAtLeast("training.max_steps", c.max_steps, 0);
  checkRange("training.grad_clip", c.grad_clip, 0.0, true);
  checkRange("training.optimizer.lr", c.lr, 0.0, false);
  checkRange("training.optimizer.betas", c.beta1, 0.0, true, 1.0);
  checkRange("training.optimizer.betas", c.beta2, 0.0, true, 1.0);
  checkRange("training.optimizer.weight_decay", c.weight_decay, 0.0, true);
  checkRange("training.optimizer.eps", c.adam_eps, 0.0, false);
  checkOneOf("training.optimizer.name", c.optimizer, kOptimizers);
  checkRange("training.optimizer.momentum", c.momentum, 0.0, true, 1.0);
  checkOneOf("training.optimizer.preconditioner", c.preconditioner, kPreconditioners);
  checkRange("training.optimizer.damping", c.damping, 0.0, false);
  if (c.preconditioner == "riemannian" && c.method == "full")
    fail("training.optimizer.preconditioner",
         "'riemannian' preconditions LoRA factors; method full has none (use none)");
  checkOneOf("training.schedule.type", c.schedule, kSchedules);
  checkAtLeast("training.schedule.warmup_steps", c.warmup_steps, 0);

  checkOneOf("evaluation.protocol", c.eval_protocol, kProtocols);
  // The generate protocol reads "The answer is X" from the model's text, which compact-text's
  // targets never say.
  if (c.eval_protocol == "generate" && c.prompt_template == "compact-text")
    fail("evaluation.protocol",
         "'generate' needs a template whose answer names the letter (mola or compact); "
         "compact-text is scored by likelihood only");
  checkAtLeast("evaluation.interval", c.eval_interval, 0);
  checkAtLeast("checkpoint_interval", c.checkpoint_interval, 0);
  checkAtLeast("keep_checkpoints", c.keep_checkpoints, 0);
  checkAtLeast("router_stats_interval", c.router_stats_interval, 0);
}

}  // namespace mola
