// SPDX-License-Identifier: GPL-3.0-or-later
// ExperimentConfig: the strict JSON reader, the canonical writer and --set.
#include "experiment/experiment_config.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <type_traits>

#include "adapters/allocation.h"
#include "data/prompt_template.h"
#include "data/qa_importer.h"
#include "data/synthetic_qa.h"
#include "experiment/experiment_text.h"
#include "experiment/json_document.h"
#include "model/model_shape.h"
#include "text.h"

namespace mola {

namespace {

using namespace experiment_detail;

namespace fs = std::filesystem;
// Ordered, so that the canonical document keeps the documented key order.
using Json = nlohmann::ordered_json;

// Names people carry over from MoLA's training script or from the struct's field names.
const std::vector<std::pair<std::string_view, std::string_view>> kAliases = {
    {"base_model", "model.path"},
    {"data_path", "data.train.path"},
    {"lora_r", "adapter.rank"},
    {"r", "adapter.rank"},
    {"lora_alpha", "adapter.alpha"},
    {"lora_dropout", "adapter.dropout"},
    {"lora_target_modules", "adapter.target_modules"},
    {"number_experts", "adapter.allocation"},
    {"num_experts", "adapter.allocation"},
    {"experts", "adapter.allocation"},
    {"micro_batch_size", "training.batch_size"},
    {"gradient_accumulation_steps", "training.grad_accumulation"},
    {"num_epochs", "training.epochs"},
    {"learning_rate", "training.optimizer.lr"},
    {"beta1", "training.optimizer.betas"},
    {"beta2", "training.optimizer.betas"},
    {"adam_eps", "training.optimizer.eps"},
    {"warmup", "training.schedule.warmup_steps"},
    {"cutoff_len", "data.cutoff"},
    {"train_on_inputs", "data.train_on_prompt"},
    {"eval_protocol", "evaluation.protocol"},
    {"eval_interval", "evaluation.interval"},
};

std::string joinKey(const std::string& prefix, std::string_view key) {
  return prefix.empty() ? std::string(key) : prefix + "." + std::string(key);
}

std::string shortDump(const Json& value) {
  std::string s = value.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (s.size() > 40) s = s.substr(0, 37) + "...";
  return s;
}

// "string \"8\"", "number 8.5", "null", "an array", "an object".
std::string describeValue(const Json& value) {
  if (value.is_object()) return "an object";
  if (value.is_array()) return "an array";
  if (value.is_null()) return "null";
  return std::string(value.type_name()) + " " + shortDump(value);
}

// What a value shaped like `canonical` must be.
std::string describeExpected(const Json& canonical) {
  if (canonical.is_string()) return "a string";
  if (canonical.is_boolean()) return "true or false";
  if (canonical.is_number_float()) return "a number";
  if (canonical.is_number()) return "a whole number";
  if (canonical.is_array())
    return canonical.empty() || canonical[0].is_string() ? "an array of strings"
                                                         : "an array of numbers";
  return "an object";
}

bool isWholeNumber(const Json& value) {
  if (value.is_number_integer()) return true;  // signed and unsigned
  if (!value.is_number_float()) return false;
  const double d = value.get<double>();
  return std::isfinite(d) && std::floor(d) == d;
}

bool sameKind(const Json& value, const Json& canonical) {
  if (canonical.is_string()) return value.is_string();
  if (canonical.is_boolean()) return value.is_boolean();
  if (canonical.is_number_float()) return value.is_number();
  if (canonical.is_number()) return isWholeNumber(value);
  if (canonical.is_array()) return value.is_array();
  return value.is_object();
}

[[noreturn]] void failType(const std::string& key, const Json& value, const Json& canonical) {
  fail(key, "expected " + describeExpected(canonical) + ", got " + describeValue(value));
}

// Every dotted path of the canonical document, groups included ("training.optimizer").
void collectPaths(const Json& doc, const std::string& prefix, std::vector<std::string>& out) {
  for (const auto& [k, v] : doc.items()) {
    out.push_back(joinKey(prefix, k));
    if (v.is_object()) collectPaths(v, joinKey(prefix, k), out);
  }
}

std::string lastComponent(const std::string& path) {
  const size_t dot = path.rfind('.');
  return dot == std::string::npos ? path : path.substr(dot + 1);
}

std::string parentOf(const std::string& path) {
  const size_t dot = path.rfind('.');
  return dot == std::string::npos ? std::string() : path.substr(0, dot);
}

Json canonicalDocument(const ExperimentConfig& c);
Json taskDocument(const TaskSpec& t);

// "unknown key 'adapter.rnak' (did you mean 'adapter.rank'?); 'adapter' takes: method, ..."
[[noreturn]] void failUnknownKey(const std::string& prefix, const std::string& key,
                                 const Json& group) {
  std::vector<std::string> siblings;
  for (const auto& [k, v] : group.items()) siblings.push_back(k);
  static const std::vector<std::string> kPaths = [] {
    std::vector<std::string> paths;
    collectPaths(canonicalDocument(ExperimentConfig{}), "", paths);
    return paths;
  }();
  const std::string typed = lower(key);
  std::vector<std::string> suggestions;
  const auto suggest = [&](const std::string& path) {
    if (suggestions.size() < 3 &&
        std::find(suggestions.begin(), suggestions.end(), path) == suggestions.end())
      suggestions.push_back(path);
  };
  // In order: a misspelling of a key of this group; the same name elsewhere (misplaced) or a
  // name from MoLA's script; a prefix of a key of this group; a misspelling of a key elsewhere.
  if (auto near = nearest(key, siblings, false)) suggest(joinKey(prefix, *near));
  if (suggestions.empty()) {
    for (const std::string& path : kPaths)
      if (lastComponent(path) == typed && parentOf(path) != prefix) suggest(path);
    for (const auto& [alias, path] : kAliases)
      if (alias == typed) suggest(std::string(path));
  }
  if (suggestions.empty())
    if (auto near = nearest(key, siblings)) suggest(joinKey(prefix, *near));
  if (suggestions.empty()) {
    std::vector<std::string> leaves;
    for (const std::string& path : kPaths) leaves.push_back(lastComponent(path));
    if (auto near = nearest(key, leaves))
      for (const std::string& path : kPaths)
        if (lastComponent(path) == *near && parentOf(path) != prefix) suggest(path);
  }
  std::string message = "unknown key '" + joinKey(prefix, key) + "'";
  if (!suggestions.empty()) {
    std::string alternatives;
    for (const std::string& s : suggestions)
      alternatives += (alternatives.empty() ? "'" : " or '") + s + "'";
    message += " (did you mean " + alternatives + "?)";
  }
  message += "; " + (prefix.empty() ? std::string("the top level") : "'" + prefix + "'") +
             " takes: " + joinList(siblings);
  throw std::invalid_argument(message);
}

// Checks `value` against the canonical document's shape: no unknown keys, the right JSON types.
void checkShape(const Json& value, const Json& canonical, const std::string& key) {
  if (!sameKind(value, canonical)) failType(key, value, canonical);
  if (canonical.is_object()) {
    for (const auto& [k, v] : value.items()) {
      if (!canonical.contains(k)) failUnknownKey(key, k, canonical);
      checkShape(v, canonical[k], joinKey(key, k));
    }
  } else if (canonical.is_array()) {
    // Every element is shaped like the canonical's first, or (data.tasks, empty by default) a task.
    const Json element = !canonical.empty()    ? canonical[0]
                         : key == "data.tasks" ? taskDocument({})
                                               : Json();
    if (element.is_null()) return;
    for (size_t i = 0; i < value.size(); ++i)
      checkShape(value[i], element, key + "[" + std::to_string(i) + "]");
  }
}

// A whole number (checkShape has seen to that) as T, at least `min`.
template <typename T>
T toInteger(const Json& value, const std::string& key, int64_t min) {
  const auto tooSmall = [&] {
    fail(key, "must be at least " + std::to_string(min) + " (got " + shortDump(value) + ")");
  };
  const auto tooLarge = [&] {
    fail(key, "must be at most " + std::to_string(std::numeric_limits<T>::max()) + " (got " +
                  shortDump(value) + ")");
  };
  if (value.is_number_unsigned()) {
    const uint64_t u = value.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<T>::max())) tooLarge();
    if (min > 0 && u < static_cast<uint64_t>(min)) tooSmall();
    return static_cast<T>(u);
  }
  if (value.is_number_integer()) {
    const int64_t i = value.get<int64_t>();
    if (i < min) tooSmall();
    if (i > 0 && static_cast<uint64_t>(i) > static_cast<uint64_t>(std::numeric_limits<T>::max()))
      tooLarge();
    return static_cast<T>(i);
  }
  const double d = value.get<double>();
  if (d < static_cast<double>(min)) tooSmall();
  // 2^64 and 2^63 are exact doubles; max() of a 64-bit type is not.
  if (d >= std::ldexp(1.0, std::numeric_limits<T>::digits)) tooLarge();
  return static_cast<T>(d);
}

// Reads the keys of one group; absent keys leave the target as it is.
class GroupReader {
 public:
  GroupReader(const Json& group, std::string prefix)
      : m_group(group), m_prefix(std::move(prefix)) {}

  const Json* find(const char* name) const {
    auto it = m_group.find(name);
    return it == m_group.end() ? nullptr : &*it;
  }
  std::string key(const char* name) const { return joinKey(m_prefix, name); }

  void read(const char* name, std::string& out) const {
    if (const Json* v = find(name)) out = v->get<std::string>();
  }
  void read(const char* name, bool& out) const {
    if (const Json* v = find(name)) out = v->get<bool>();
  }
  void read(const char* name, double& out) const {
    if (const Json* v = find(name)) out = v->get<double>();
  }
  // `min` only shapes the message for values the type cannot hold; validateExperiment checks
  // the real ranges.
  template <typename T>
  requires std::is_integral_v<T>
  void read(const char* name, T& out, int64_t min = std::numeric_limits<T>::min()) const {
    if (const Json* v = find(name)) out = toInteger<T>(*v, key(name), min);
  }
  GroupReader group(const char* name) const {
    static const Json kEmpty = Json::object();
    const Json* v = find(name);
    return GroupReader(v ? *v : kEmpty, key(name));
  }

 private:
  const Json& m_group;
  std::string m_prefix;
};

void readData(const GroupReader& r, DataSpec& d) {
  r.read("path", d.path);
  r.read("format", d.format);
  r.read("split", d.split);
  r.read("limit", d.limit, 0);
}

std::vector<TaskSpec> readTasks(const Json& list, const std::string& key) {
  std::vector<TaskSpec> tasks;
  for (size_t i = 0; i < list.size(); ++i) {
    const GroupReader r(list[i], key + "[" + std::to_string(i) + "]");
    TaskSpec t;
    t.id = int(i);
    r.read("name", t.name);
    r.read("id", t.id, 0);
    readData(r.group("train"), t.train);
    readData(r.group("eval"), t.eval);
    tasks.push_back(std::move(t));
  }
  return tasks;
}

std::vector<std::string> readTargetModules(const Json& list, const std::string& key) {
  std::vector<std::string> out;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string name = list[i].get<std::string>();
    TargetModule m;
    try {
      m = parseTargetModule(name);
    } catch (const std::invalid_argument&) {
      std::vector<std::string> all;
      for (TargetModule t : kAllTargetModules) all.emplace_back(targetModuleName(t));
      const auto near = nearest(name, all);
      fail(key + "[" + std::to_string(i) + "]",
           inQuotes(name) + " is not one of " + joinList(all) +
               " (or the short forms q, k, v, o, gate, up, down)" +
               (near ? "; did you mean '" + *near + "'?" : ""));
    }
    const std::string full(targetModuleName(m));
    if (std::find(out.begin(), out.end(), full) != out.end())
      fail(key, inQuotes(full) + " is listed twice");
    out.push_back(full);
  }
  // Canonical order: experiments that name the same modules are the same experiment.
  std::sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) {
    return int(parseTargetModule(a)) < int(parseTargetModule(b));
  });
  return out;
}

ExperimentConfig fromDocument(const Json& doc) {
  if (!doc.is_object())
    throw std::invalid_argument("the document must be a JSON object ({...}), got " +
                                describeValue(doc));
  const Json canonical = canonicalDocument(ExperimentConfig{});
  checkShape(doc, canonical, "");

  ExperimentConfig c;
  const GroupReader top(doc, "");
  top.read("name", c.name);

  const GroupReader model = top.group("model");
  model.read("path", c.model);
  model.read("tokenizer", c.tokenizer);
  model.read("device", c.device);
  model.read("dtype", c.dtype);

  const GroupReader adapter = top.group("adapter");
  adapter.read("method", c.method);
  adapter.read("allocation", c.allocation);
  adapter.read("rank", c.rank, 1);
  adapter.read("alpha", c.alpha);
  adapter.read("top_k", c.top_k, 1);
  adapter.read("dropout", c.dropout);
  if (const Json* modules = adapter.find("target_modules"))
    c.target_modules = readTargetModules(*modules, adapter.key("target_modules"));
  adapter.read("balance_coefficient", c.balance_coefficient);
  adapter.read("task_embedding_dim", c.task_embedding_dim, 1);

  const GroupReader data = top.group("data");
  readData(data.group("train"), c.train);
  readData(data.group("eval"), c.eval);
  if (const Json* tasks = data.find("tasks")) c.tasks = readTasks(*tasks, data.key("tasks"));
  data.read("prompt_template", c.prompt_template);
  data.read("cutoff", c.cutoff, static_cast<int64_t>(kMinCutoff));
  data.read("train_on_prompt", c.train_on_prompt);

  const GroupReader training = top.group("training");
  training.read("batch_size", c.batch_size, 1);
  training.read("grad_accumulation", c.grad_accumulation, 1);
  training.read("epochs", c.epochs, 1);
  training.read("max_steps", c.max_steps, 0);
  training.read("seed", c.seed, 0);
  training.read("grad_clip", c.grad_clip);
  training.read("activation_checkpointing", c.activation_checkpointing);
  training.read("group_by_length", c.group_by_length);
  training.read("processes", c.processes, 1);
  const GroupReader optimizer = training.group("optimizer");
  optimizer.read("name", c.optimizer);
  optimizer.read("lr", c.lr);
  if (const Json* betas = optimizer.find("betas")) {
    if (betas->size() != 2)
      fail(optimizer.key("betas"),
           "expected 2 numbers [beta1, beta2], got " + std::to_string(betas->size()));
    c.beta1 = (*betas)[0].get<double>();
    c.beta2 = (*betas)[1].get<double>();
  }
  optimizer.read("weight_decay", c.weight_decay);
  optimizer.read("eps", c.adam_eps);
  optimizer.read("momentum", c.momentum);
  optimizer.read("preconditioner", c.preconditioner);
  optimizer.read("damping", c.damping);
  optimizer.read("gate_rescaling", c.gate_rescaling);
  const GroupReader schedule = training.group("schedule");
  schedule.read("type", c.schedule);
  schedule.read("warmup_steps", c.warmup_steps, 0);

  const GroupReader evaluation = top.group("evaluation");
  evaluation.read("protocol", c.eval_protocol);
  evaluation.read("interval", c.eval_interval, 0);
  top.read("checkpoint_interval", c.checkpoint_interval, 0);
  top.read("keep_checkpoints", c.keep_checkpoints, 0);
  top.read("router_stats_interval", c.router_stats_interval, 0);
  return c;
}

Json dataDocument(const DataSpec& d) {
  Json j = Json::object();
  j["path"] = d.path;
  j["format"] = d.format;
  j["split"] = d.split;
  j["limit"] = d.limit;
  return j;
}

Json taskDocument(const TaskSpec& t) {
  Json j = Json::object();
  j["name"] = t.name;
  j["id"] = t.id;
  j["train"] = dataDocument(t.train);
  j["eval"] = dataDocument(t.eval);
  return j;
}

Json canonicalDocument(const ExperimentConfig& c) {
  Json doc = Json::object();
  doc["name"] = c.name;
  doc["model"] = {
      {"path", c.model}, {"tokenizer", c.tokenizer}, {"device", c.device}, {"dtype", c.dtype}};
  Json adapter = Json::object();
  adapter["method"] = c.method;
  adapter["allocation"] = c.allocation;
  adapter["rank"] = c.rank;
  adapter["alpha"] = c.alpha;
  adapter["top_k"] = c.top_k;
  adapter["dropout"] = c.dropout;
  adapter["target_modules"] = c.target_modules;
  adapter["balance_coefficient"] = c.balance_coefficient;
  adapter["task_embedding_dim"] = c.task_embedding_dim;
  doc["adapter"] = adapter;
  Json data = Json::object();
  data["train"] = dataDocument(c.train);
  data["eval"] = dataDocument(c.eval);
  data["tasks"] = Json::array();
  for (const TaskSpec& t : c.tasks) data["tasks"].push_back(taskDocument(t));
  data["prompt_template"] = c.prompt_template;
  data["cutoff"] = c.cutoff;
  data["train_on_prompt"] = c.train_on_prompt;
  doc["data"] = data;
  Json training = Json::object();
  training["batch_size"] = c.batch_size;
  training["grad_accumulation"] = c.grad_accumulation;
  training["epochs"] = c.epochs;
  training["max_steps"] = c.max_steps;
  training["seed"] = c.seed;
  training["grad_clip"] = c.grad_clip;
  training["activation_checkpointing"] = c.activation_checkpointing;
  training["group_by_length"] = c.group_by_length;
  training["processes"] = c.processes;
  Json optimizer = Json::object();
  optimizer["name"] = c.optimizer;
  optimizer["lr"] = c.lr;
  optimizer["betas"] = Json::array({c.beta1, c.beta2});
  optimizer["weight_decay"] = c.weight_decay;
  optimizer["eps"] = c.adam_eps;
  optimizer["momentum"] = c.momentum;
  optimizer["preconditioner"] = c.preconditioner;
  optimizer["damping"] = c.damping;
  optimizer["gate_rescaling"] = c.gate_rescaling;
  training["optimizer"] = optimizer;
  training["schedule"] = {{"type", c.schedule}, {"warmup_steps", c.warmup_steps}};
  doc["training"] = training;
  doc["evaluation"] = {{"protocol", c.eval_protocol}, {"interval", c.eval_interval}};
  doc["checkpoint_interval"] = c.checkpoint_interval;
  doc["keep_checkpoints"] = c.keep_checkpoints;
  doc["router_stats_interval"] = c.router_stats_interval;
  return doc;
}

// The JSON for one --set value, given what the key holds now.
Json overrideValue(const std::string& text, const Json& current) {
  Json parsed = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  const bool valid = !parsed.is_discarded();
  if (current.is_string() && !(valid && parsed.is_string())) return text;
  if (!valid && current.is_array() && (current.empty() || current[0].is_string())) {
    Json list = Json::array();
    std::string_view rest = text;
    while (true) {
      const size_t comma = rest.find(',');
      list.push_back(std::string(trimWhitespace(rest.substr(0, comma))));
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
    return list;
  }
  return valid ? parsed : Json(text);
}

// Sets the key of one "dotted.key=value" in the canonical document `doc` (the value read as
// overrideValue says); unknown keys and malformed assignments are errors naming them.
void setInDocument(Json& doc, const std::string& assignment) {
  const size_t eq = assignment.find('=');
  const std::string key(trimWhitespace(std::string_view(assignment).substr(0, eq)));
  if (eq == std::string::npos || key.empty())
    throw std::invalid_argument("--set " + inQuotes(assignment) +
                                ": expected KEY=VALUE, e.g. training.optimizer.lr=1e-3");
  const std::string text(trimWhitespace(std::string_view(assignment).substr(eq + 1)));
  Json* node = &doc;
  std::string prefix;
  try {
    std::string_view rest = key;
    while (true) {
      const size_t dot = rest.find('.');
      const std::string part(rest.substr(0, dot));
      if (!node->is_object())
        fail(key, inQuotes(prefix) + " is a value, not a group: it has no key " + inQuotes(part));
      if (!node->contains(part)) failUnknownKey(prefix, part, *node);
      node = &(*node)[part];
      prefix = joinKey(prefix, part);
      if (dot == std::string_view::npos) break;
      rest.remove_prefix(dot + 1);
    }
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument("--set: " + std::string(e.what()));
  }
  *node = overrideValue(text, *node);
}

}  // namespace

ExperimentConfig parseExperiment(const std::string& json_text, const std::string& source) {
  const std::string where = source.empty() ? "experiment" : source;
  const Json doc = parseJsonDocument(json_text, where);
  try {
    ExperimentConfig config = fromDocument(doc);
    validateExperiment(config);
    return config;
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(where + ": " + e.what());
  }
}

ExperimentConfig loadExperiment(const fs::path& file) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec))
    throw std::invalid_argument(file.string() + ": " +
                                (fs::exists(file, ec) ? "not a file" : "no such file") +
                                " (expected an experiment JSON file)");
  std::string text;
  try {
    text = readWholeFile(file, "an experiment file", uintmax_t{64} << 20);
  } catch (const std::runtime_error& e) {
    throw std::invalid_argument(e.what());
  }
  ExperimentConfig config = parseExperiment(text, file.string());
  resolveExperimentPaths(config, file.parent_path());
  return config;
}

void resolveExperimentPaths(ExperimentConfig& config, const fs::path& base_dir) {
  const fs::path base = base_dir.empty() ? fs::current_path() : fs::absolute(base_dir);
  const char* home = std::getenv("HOME");
  std::vector<std::string*> paths = {&config.model, &config.tokenizer, &config.train.path,
                                     &config.eval.path};
  for (TaskSpec& t : config.tasks) {
    paths.push_back(&t.train.path);
    paths.push_back(&t.eval.path);
  }
  for (std::string* path : paths) {
    // "~/..." is the user's home, as in a shell (the shipped SmolLM2 experiments find the model
    // cache that way).
    if (path->rfind("~/", 0) == 0 && home && *home)
      *path = (fs::path(home) / path->substr(2)).string();
    if (path->empty() || path->rfind(kBuiltinPrefix, 0) == 0 ||
        path->rfind(kSyntheticPrefix, 0) == 0 || fs::path(*path).is_absolute())
      continue;
    *path = (base / *path).lexically_normal().string();
  }
}

std::string experimentToJson(const ExperimentConfig& config) {
  return canonicalDocument(config).dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

void applyExperimentOverride(ExperimentConfig& config, const std::string& assignment) {
  applyExperimentOverrides(config, {assignment});
}

void applyExperimentOverrides(ExperimentConfig& config,
                              const std::vector<std::string>& assignments) {
  if (assignments.empty()) return;
  Json doc = canonicalDocument(config);
  for (const std::string& assignment : assignments) setInDocument(doc, assignment);
  config = parseExperiment(doc.dump(-1, ' ', false, Json::error_handler_t::replace), "--set");
}

std::string dataSourceName(const DataSpec& d) {
  return d.path.rfind(kSyntheticPrefix, 0) == 0 ? d.path : fs::path(d.path).filename().string();
}

std::vector<TaskSpec> experimentTasks(const ExperimentConfig& config) {
  if (!config.tasks.empty()) return config.tasks;
  TaskSpec t;
  t.name = dataSourceName(config.train);
  t.train = config.train;
  t.eval = config.eval;
  return {t};
}

std::string taskBenchmarkName(const ExperimentConfig& config, const TaskSpec& task) {
  return config.tasks.empty() ? dataSourceName(task.eval) : task.name;
}

std::string evaluatedBenchmark(const ExperimentConfig& config) {
  std::vector<std::string> names;
  for (const TaskSpec& t : experimentTasks(config))
    if (!t.eval.path.empty()) names.push_back(taskBenchmarkName(config, t));
  if (names.size() > 1) return kMeanOfTasks;
  return names.empty() ? std::string() : names.front();
}

bool operator==(const DataSpec& a, const DataSpec& b) {
  return a.path == b.path && a.format == b.format && a.split == b.split && a.limit == b.limit;
}

bool operator==(const TaskSpec& a, const TaskSpec& b) {
  return a.name == b.name && a.id == b.id && a.train == b.train && a.eval == b.eval;
}

bool operator==(const ExperimentConfig& a, const ExperimentConfig& b) {
  return a.name == b.name && a.model == b.model && a.tokenizer == b.tokenizer &&
         a.device == b.device && a.dtype == b.dtype && a.method == b.method &&
         a.allocation == b.allocation && a.rank == b.rank && a.alpha == b.alpha &&
         a.top_k == b.top_k && a.dropout == b.dropout && a.target_modules == b.target_modules &&
         a.balance_coefficient == b.balance_coefficient &&
         a.task_embedding_dim == b.task_embedding_dim && a.train == b.train && a.eval == b.eval &&
         a.tasks == b.tasks && a.optimizer == b.optimizer && a.momentum == b.momentum &&
         a.preconditioner == b.preconditioner && a.damping == b.damping &&
         a.gate_rescaling == b.gate_rescaling && a.prompt_template == b.prompt_template &&
         a.cutoff == b.cutoff && a.train_on_prompt == b.train_on_prompt &&
         a.batch_size == b.batch_size && a.grad_accumulation == b.grad_accumulation &&
         a.epochs == b.epochs && a.max_steps == b.max_steps && a.lr == b.lr && a.beta1 == b.beta1 &&
         a.beta2 == b.beta2 && a.weight_decay == b.weight_decay && a.adam_eps == b.adam_eps &&
         a.schedule == b.schedule && a.warmup_steps == b.warmup_steps &&
         a.grad_clip == b.grad_clip && a.seed == b.seed &&
         a.activation_checkpointing == b.activation_checkpointing &&
         a.group_by_length == b.group_by_length && a.processes == b.processes &&
         a.eval_protocol == b.eval_protocol && a.eval_interval == b.eval_interval &&
         a.checkpoint_interval == b.checkpoint_interval &&
         a.keep_checkpoints == b.keep_checkpoints &&
         a.router_stats_interval == b.router_stats_interval;
}

}  // namespace mola
