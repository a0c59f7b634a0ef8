// SPDX-License-Identifier: GPL-3.0-or-later
// The allocation advisor on the command line.
#include "advice_support.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "store/run_launch.h"
#include "store_args.h"
#include "study/study_queue.h"
#include "study/weight_spectra.h"
#include "text.h"

namespace mola::cli {

namespace {

// The total experts of the study's first MoLA variant (else the base's allocation).
int defaultBudget(const StudySpec& spec, int layers) {
  for (const StudyVariant& v : spec.variants) {
    ExperimentConfig c = spec.base;
    applyExperimentOverrides(c, v.overrides);
    if (c.method == "mola")
      return static_cast<int>(Allocation::parse(c.allocation, layers).totalExperts());
  }
  return static_cast<int>(Allocation::parse(spec.base.allocation, layers).totalExperts());
}

int modelDepthOrThrow(const std::string& model) {
  const std::optional<int> depth = modelDepth(model);
  if (!depth) throw std::invalid_argument("cannot read the depth of model '" + model + "'");
  return *depth;
}

void printProgress(int layer, int layers) {
  if (isatty(STDERR_FILENO))
    std::fprintf(stderr, "\rfitting the spectra: layer %d/%d", layer, layers);
  if (layer == layers)
    std::fprintf(stderr, "%sfitted the spectra of %d layers\n", isatty(STDERR_FILENO) ? "\r" : "",
                 layers);
}

AllocationAdvice adviseFromPilot(const RunStore& store, int64_t run, int budget, int min_each) {
  const RunRecord pilot = store.run(run);
  const std::optional<Allocation> alloc = Allocation::fromStoredList(pilot.allocation);
  if (!alloc)
    throw std::invalid_argument("run " + std::to_string(run) + " has no per-layer allocation ('" +
                                pilot.allocation + "'): it cannot be a pilot");
  return adviseFromRouter(store.routerStats(run), *alloc, budget, min_each);
}

}  // namespace

void resolveAdvice(StudySpec& spec, const RunStore& store) {
  if (spec.advice.empty()) return;
  const int layers = modelDepthOrThrow(spec.base.model);
  for (const AdviceRequest& r : spec.advice) {
    const int budget = r.budget > 0 ? r.budget : defaultBudget(spec, layers);
    const int min_each = spec.base.top_k;
    AllocationAdvice advice;
    if (r.strategy == "spectra") {
      std::cerr << "advisor '" << r.name << "': the spectra of " << spec.base.model << "\n";
      advice = adviseFromSpectra(
          layerTailExponents(spec.base.model, spec.base.target_modules, printProgress), budget,
          r.beta, min_each);
    } else {
      advice = adviseFromPilot(store, r.pilot_run, budget, min_each);
    }
    if (advice.allocation.numLayers() != layers)
      throw std::invalid_argument("advisor '" + r.name + "': the proposal has " +
                                  std::to_string(advice.allocation.numLayers()) +
                                  " layers, the study's model " + std::to_string(layers));
    std::cerr << describeAdvice(advice);
    spec.variants.push_back(
        {r.name,
         {"adapter.method=mola", "adapter.allocation=" + advice.allocation.toList()},
         advice.summary});
  }
  spec.advice.clear();
}

int cmdAdvise(const Args& args) {
  args.allowOnly({"--db", "--budget", "--model", "--beta", "--modules", "--min", "--json", "--name",
                  "--add-to"});
  const auto budget_arg = args.get("--budget");
  if (!budget_arg)
    throw UsageError("mola advise needs --budget N (experts in all, per module type)");
  const int budget = args.getNumber<int>("--budget", 0);
  const int min_each = args.getNumber<int>("--min", 2);
  AllocationAdvice advice;
  if (const auto model = args.get("--model")) {
    if (!args.positional.empty())
      throw UsageError("mola advise takes a RUN_ID or --model, not both");
    std::vector<std::string> modules;
    for (TargetModule m : parseTargetModules(args.get("--modules", "all")))
      modules.emplace_back(targetModuleName(m));
    advice = adviseFromSpectra(layerTailExponents(*model, modules, printProgress), budget,
                               args.getNumber<double>("--beta", 2.5), min_each);
  } else {
    if (args.positional.size() != 1)
      throw UsageError(
          "mola advise takes a pilot RUN_ID (router statistics) or --model PATH "
          "(weight spectra)");
    const RunStore store = openStoreToRead(args);
    advice = adviseFromPilot(store, parseRunId(args.positional[0]), budget, min_each);
  }
  const std::string name = args.get("--name", "advisor-" + advice.strategy);
  if (const auto study = args.get("--add-to")) {
    std::fprintf(stderr, "%s", describeAdvice(advice).c_str());
    RunStore store = openStoreToWrite(args);
    const int64_t id = findStudy(store, *study).id;
    const StudyAdded added =
        addVariantToStudy(store, id, name, advice.allocation.toList(), advice.summary);
    std::printf(
        "study %lld: variant '%s' (%s) added, %d run(s) queued; train them with: mola "
        "study run %lld\n",
        static_cast<long long>(id), printableText(name).c_str(), advice.allocation.toList().c_str(),
        added.added, static_cast<long long>(id));
    return 0;
  }
  if (args.get("--json")) {
    nlohmann::ordered_json v = {{"name", name},
                                {"set", {{"adapter.allocation", advice.allocation.toList()}}},
                                {"description", advice.summary}};
    std::printf("%s\n", v.dump(2).c_str());
    return 0;
  }
  std::printf("%s", describeAdvice(advice).c_str());
  std::printf(
      "\nas a study variant (\"variants\" list):\n  {\"name\": \"%s\", \"set\": "
      "{\"adapter.allocation\": \"%s\"}}\n",
      printableText(name).c_str(), advice.allocation.toList().c_str());
  return 0;
}

}  // namespace mola::cli
