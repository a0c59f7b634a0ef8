// SPDX-License-Identifier: GPL-3.0-or-later
// Study files: reading, expanding into runs, the stored document.
#include "study/study_spec.h"

#include <cmath>
#include <map>
#include <set>
#include <stdexcept>

#include "adapters/allocation.h"
#include "experiment/json_document.h"
#include "model/model_probe.h"
#include "text.h"

namespace mola {

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

[[noreturn]] void fail(const std::string& source, const std::string& key, const std::string& what) {
  throw std::invalid_argument(source + ": " + key + ": " + what);
}

// "key=value" as applyExperimentOverride reads it: strings as written, the rest as JSON.
std::string assignment(const std::string& key, const Json& value) {
  return key + "=" + (value.is_string() ? value.get<std::string>() : value.dump());
}

// The last part of a dotted key: "lr" for training.optimizer.lr.
std::string shortKey(const std::string& key) {
  const size_t dot = key.rfind('.');
  return dot == std::string::npos ? key : key.substr(dot + 1);
}

std::string valueText(const Json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

std::vector<std::string> setAssignments(const Json& set, const std::string& source,
                                        const std::string& key) {
  if (!set.is_object()) fail(source, key, "must be an object of dotted keys and values");
  std::vector<std::string> out;
  for (const auto& [k, v] : set.items()) out.push_back(assignment(k, v));
  return out;
}

// The list at `key` (empty when the key is absent); anything but a list is an error saying what
// the list holds.
const Json& listAt(const Json& doc, const char* key, const std::string& source,
                   const std::string& holds) {
  static const Json kNone = Json::array();
  const auto it = doc.find(key);
  if (it == doc.end()) return kNone;
  if (!it->is_array()) fail(source, key, "must be a list of " + holds);
  return *it;
}

ExperimentConfig readBase(const Json& doc, const std::string& source, const fs::path& base_dir) {
  const auto it = doc.find("base");
  if (it == doc.end()) fail(source, "base", "is required (an experiment file or document)");
  ExperimentConfig base;
  if (it->is_string()) {
    fs::path file = it->get<std::string>();
    if (file.is_relative()) file = base_dir / file;
    base = loadExperiment(file);
  } else if (it->is_object()) {
    base = parseExperiment(it->dump(), source + ": base");
    resolveExperimentPaths(base, base_dir);
  } else {
    fail(source, "base", "must be an experiment file's path or an experiment document");
  }
  if (const auto set = doc.find("set"); set != doc.end()) {
    try {
      applyExperimentOverrides(base, setAssignments(*set, source, "set"));
    } catch (const std::invalid_argument& e) {
      fail(source, "set", e.what());
    }
  }
  return base;
}

// The grid's combinations as (name suffix, assignments), in the file's key order.
std::vector<std::pair<std::string, std::vector<std::string>>> gridCombinations(
    const Json& grid, const std::string& source) {
  std::vector<std::pair<std::string, std::vector<std::string>>> combos = {{"", {}}};
  if (!grid.is_object()) fail(source, "grid", "must be an object of dotted keys and value lists");
  for (const auto& [key, values] : grid.items()) {
    if (!values.is_array() || values.empty())
      fail(source, "grid." + key, "must be a non-empty list of values");
    std::vector<std::pair<std::string, std::vector<std::string>>> next;
    for (const auto& [suffix, sets] : combos)
      for (const Json& v : values) {
        auto more = sets;
        more.push_back(assignment(key, v));
        next.emplace_back(suffix + " " + shortKey(key) + "=" + valueText(v), std::move(more));
      }
    combos = std::move(next);
  }
  return combos;
}

// Plain LoRA of rank `rank`, alpha scaled with it so that alpha / rank (LoRA's scale) stays the
// base's: rank 43 next to MoLA's rank 8, alpha 16 gets alpha 86.
StudyVariant loraVariant(const std::string& name, int rank, const ExperimentConfig& base,
                         const std::string& description) {
  const double alpha = base.alpha * double(rank) / double(base.rank);
  return {name,
          {"adapter.method=lora", "adapter.rank=" + std::to_string(rank),
           "adapter.alpha=" + Json(alpha).dump()},
          description};
}

std::vector<StudyVariant> allocationVariants(const Json& doc, const ExperimentConfig& base,
                                             const std::string& source) {
  std::vector<StudyVariant> out;
  std::string first;  // the allocation "lora-equal" matches
  for (const Json& a : listAt(doc, "allocations", source, "allocation specs")) {
    if (!a.is_string()) fail(source, "allocations", "each entry must be a string");
    const std::string spec = a.get<std::string>();
    if (spec == "lora-equal") {
      if (first.empty())
        fail(source, "allocations", "\"lora-equal\" needs a MoLA allocation before it to match");
      ExperimentConfig mola = base;
      mola.method = "mola";
      mola.allocation = first;
      int rank = 0;
      try {
        rank = equalParameterLoraRank(mola);
      } catch (const std::invalid_argument& e) {
        fail(source, "allocations", std::string("lora-equal: ") + e.what());
      }
      out.push_back(loraVariant("lora-r" + std::to_string(rank), rank, base,
                                "plain LoRA with the trainable parameters of " + first));
    } else if (spec.rfind("lora-r", 0) == 0) {
      const std::string digits = spec.substr(6);
      if (digits.empty() || digits.size() > 6 ||
          digits.find_first_not_of("0123456789") != std::string::npos || std::stoi(digits) < 1)
        fail(source, "allocations", "'" + spec + "': plain LoRA is written lora-rR, R >= 1");
      out.push_back(loraVariant(spec, std::stoi(digits), base, ""));
    } else {
      if (first.empty()) first = spec;
      out.push_back({spec, {"adapter.method=mola", "adapter.allocation=" + spec}, ""});
    }
  }
  return out;
}

std::vector<StudyVariant> namedVariants(const Json& doc, const std::string& source) {
  std::vector<StudyVariant> out;
  for (const Json& v : listAt(doc, "variants", source, "{\"name\", \"set\"} objects")) {
    if (!v.is_object() || !v.contains("name") || !v["name"].is_string())
      fail(source, "variants", "each entry needs a \"name\" string and a \"set\" object");
    const std::string name = v["name"].get<std::string>();
    for (const auto& [k, value] : v.items())
      if (k != "name" && k != "set" && k != "description")
        fail(source, "variants." + name, "unknown key '" + k + "' (name, set, description)");
    StudyVariant variant{name, {}, v.value("description", "")};
    if (v.contains("set"))
      variant.overrides = setAssignments(v["set"], source, "variants." + name + ".set");
    out.push_back(std::move(variant));
  }
  return out;
}

std::vector<AdviceRequest> adviceRequests(const Json& doc, const std::string& source) {
  std::vector<AdviceRequest> out;
  for (const Json& a : listAt(doc, "advise", source, "{\"strategy\", ...} objects")) {
    if (!a.is_object()) fail(source, "advise", "each entry must be an object");
    AdviceRequest r;
    for (const auto& [k, v] : a.items()) {
      const std::string key = "advise." + k;
      if (k == "strategy" && v.is_string())
        r.strategy = v.get<std::string>();
      else if (k == "name" && v.is_string())
        r.name = v.get<std::string>();
      else if (k == "budget" && v.is_number_integer() && v.get<int>() > 0)
        r.budget = v.get<int>();
      else if (k == "beta" && v.is_number() && v.get<double>() >= 0)
        r.beta = v.get<double>();
      else if (k == "pilot_run" && v.is_number_integer() && v.get<int64_t>() > 0)
        r.pilot_run = v.get<int64_t>();
      else
        fail(source, key,
             "unknown key or bad value (strategy: spectra|router, name, budget > 0, beta >= 0, "
             "pilot_run)");
    }
    if (r.strategy != "spectra" && r.strategy != "router")
      fail(source, "advise.strategy", "must be \"spectra\" or \"router\"");
    if (r.strategy == "router" && r.pilot_run == 0)
      fail(source, "advise.pilot_run", "the router strategy needs the pilot run's id");
    if (r.name.empty()) r.name = "advisor-" + r.strategy;
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<uint64_t> readSeeds(const Json& doc, const ExperimentConfig& base,
                                const std::string& source) {
  const auto it = doc.find("seeds");
  if (it == doc.end()) return {base.seed};
  if (!it->is_array() || it->empty()) fail(source, "seeds", "must be a non-empty list of integers");
  std::vector<uint64_t> seeds;
  std::set<uint64_t> seen;
  for (const Json& s : *it) {
    if (!s.is_number_unsigned()) fail(source, "seeds", "each seed must be a whole number >= 0");
    if (!seen.insert(s.get<uint64_t>()).second)
      fail(source, "seeds", "seed " + std::to_string(s.get<uint64_t>()) + " is listed twice");
    seeds.push_back(s.get<uint64_t>());
  }
  return seeds;
}

}  // namespace

std::optional<int64_t> adapterParameters(const ExperimentConfig& config) {
  const std::optional<ModelShape> shape = probeModelShape(config.model);
  if (!shape) return std::nullopt;
  if (config.method == "full") return countBaseParameters(*shape);
  std::string modules;
  for (const std::string& m : config.target_modules) modules += (modules.empty() ? "" : ",") + m;
  const Allocation alloc = config.method == "lora"
                               ? Allocation::uniform(1, shape->num_layers)
                               : Allocation::parse(config.allocation, shape->num_layers);
  if (config.method == "moelora")
    return countMoeLoraParameters(alloc, *shape, config.rank, parseTargetModules(modules),
                                  int(experimentTasks(config).size()), config.task_embedding_dim)
        .total();
  return countTrainableParameters(alloc, *shape, config.rank, parseTargetModules(modules)).total();
}

int equalParameterLoraRank(const ExperimentConfig& config) {
  ExperimentConfig rank_one = config;
  rank_one.method = "lora";
  rank_one.rank = 1;
  const std::optional<int64_t> mola = adapterParameters(config),
                               per_rank = adapterParameters(rank_one);
  if (!mola || !per_rank)
    throw std::invalid_argument("cannot read the shape of model '" + config.model +
                                "' to match its parameters");
  return std::max(1, static_cast<int>(std::lround(double(*mola) / double(*per_rank))));
}

StudySpec parseStudy(const std::string& json_text, const std::string& source,
                     const fs::path& base_dir) {
  const Json doc = parseJsonDocument(json_text, source);
  if (!doc.is_object()) throw std::invalid_argument(source + ": a study file is a JSON object");
  static const std::set<std::string> kKeys = {"name",     "base",   "set",   "allocations", "grid",
                                              "variants", "advise", "seeds", "baseline"};
  for (const auto& [k, v] : doc.items())
    if (!kKeys.count(k))
      fail(source, k,
           "unknown key (name, base, set, allocations, grid, variants, advise, seeds, baseline)");
  StudySpec spec;
  if (!doc.contains("name") || !doc["name"].is_string() ||
      trimWhitespace(doc["name"].get<std::string>()).empty())
    fail(source, "name", "is required (a non-empty string)");
  spec.name = std::string(trimWhitespace(doc["name"].get<std::string>()));
  spec.base = readBase(doc, source, base_dir);
  std::vector<StudyVariant> shapes = allocationVariants(doc, spec.base, source);
  if (const auto grid = doc.find("grid"); grid != doc.end()) {
    if (shapes.empty()) shapes.push_back({"base", {}, ""});
    std::vector<StudyVariant> crossed;
    for (const StudyVariant& s : shapes)
      for (const auto& [suffix, sets] : gridCombinations(*grid, source)) {
        StudyVariant v = s;
        v.name = s.name == "base" ? suffix.substr(1) : s.name + suffix;
        v.overrides.insert(v.overrides.end(), sets.begin(), sets.end());
        crossed.push_back(std::move(v));
      }
    shapes = std::move(crossed);
  }
  spec.variants = std::move(shapes);
  for (StudyVariant& v : namedVariants(doc, source)) spec.variants.push_back(std::move(v));
  spec.advice = adviceRequests(doc, source);
  spec.seeds = readSeeds(doc, spec.base, source);
  if (spec.variants.empty() && spec.advice.empty()) spec.variants.push_back({"base", {}, ""});
  std::set<std::string> names;
  for (const StudyVariant& v : spec.variants)
    if (!names.insert(v.name).second)
      fail(source, "variants", "two variants are named '" + v.name + "'");
  for (const AdviceRequest& a : spec.advice)
    if (!names.insert(a.name).second)
      fail(source, "advise", "two variants are named '" + a.name + "'");
  if (const auto b = doc.find("baseline"); b != doc.end()) {
    if (!b->is_string() || !names.count(b->get<std::string>()))
      fail(source, "baseline",
           "must name one of the variants (" + std::to_string(names.size()) + " of them)");
    spec.baseline = b->get<std::string>();
  } else {
    spec.baseline = spec.variants.empty() ? spec.advice.front().name : spec.variants.front().name;
  }
  // Every override must apply to the base: errors now rather than at the variant's turn.
  for (const StudyVariant& v : spec.variants) {
    ExperimentConfig c = spec.base;
    try {
      applyExperimentOverrides(c, v.overrides);
    } catch (const std::invalid_argument& e) {
      fail(source, "variant '" + v.name + "'", e.what());
    }
  }
  return spec;
}

StudySpec loadStudy(const fs::path& file) {
  std::string text;
  try {
    text = readWholeFile(file, "study file");
  } catch (const std::runtime_error& e) {
    throw std::invalid_argument(e.what());
  }
  return parseStudy(text, file.string(), fs::absolute(file).parent_path());
}

std::vector<StudyRun> expandStudy(const StudySpec& spec) {
  if (!spec.advice.empty())
    throw std::logic_error("expandStudy: resolve the study's advice into variants first");
  std::vector<StudyRun> runs;
  for (const StudyVariant& v : spec.variants) {
    ExperimentConfig c = spec.base;
    try {
      applyExperimentOverrides(c, v.overrides);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument("study '" + spec.name + "', variant '" + v.name +
                                  "': " + e.what());
    }
    for (uint64_t seed : spec.seeds) {
      StudyRun r{v.name, seed, c};
      r.config.seed = seed;
      r.config.name = spec.name + "/" + v.name + "/seed" + std::to_string(seed);
      runs.push_back(std::move(r));
    }
  }
  return runs;
}

std::string studyToJson(const StudySpec& spec) {
  Json doc;
  doc["name"] = spec.name;
  doc["base"] = Json::parse(experimentToJson(spec.base));
  Json variants = Json::array();
  for (const StudyVariant& v : spec.variants) {
    Json set = Json::object();
    for (const std::string& a : v.overrides) {
      const size_t eq = a.find('=');
      set[a.substr(0, eq)] = a.substr(eq + 1);
    }
    Json entry = {{"name", v.name}, {"set", set}};
    if (!v.description.empty()) entry["description"] = v.description;
    variants.push_back(entry);
  }
  doc["variants"] = variants;
  doc["seeds"] = spec.seeds;
  doc["baseline"] = spec.baseline;
  return doc.dump(2);
}

}  // namespace mola
