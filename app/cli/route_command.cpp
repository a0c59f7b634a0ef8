// SPDX-License-Identifier: GPL-3.0-or-later
// mola route: which experts each token of a text goes to, per layer (token_routing.h).
#include <ATen/ATen.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>

#include "commands.h"
#include "eval/token_routing.h"
#include "eval/token_routing_trace.h"
#include "model_args.h"
#include "runtime.h"

namespace mola::cli {

namespace {

RoutingQuantity quantityArg(const Args& args) {
  const std::string q = args.get("--quantity", "gate");
  if (q == "gate") return RoutingQuantity::Gate;
  if (q == "probability") return RoutingQuantity::Probability;
  if (q == "selection") return RoutingQuantity::Selection;
  throw UsageError("--quantity expects gate, probability or selection, got '" + q + "'");
}

void writeJson(const std::string& file, const TokenRouting& routing) {
  const std::string json = tokenRoutingToJson(routing);
  if (file == "-") {
    std::cout << json << "\n";
    return;
  }
  std::ofstream out(file);
  out << json << "\n";
  out.flush();
  if (!out) throw std::runtime_error(file + ": cannot write the token routing");
}

}  // namespace

int cmdRoute(const Args& args) {
  args.allowOnly({"--model", "--tokenizer", "--adapter", "--run", "--db", "--prompt", "--layer",
                  "--module", "--quantity", "--json", "--dtype", "--device"});
  const int64_t run = runArg(args);
  const auto prompt = args.get("--prompt");
  if (!prompt || prompt->empty()) throw UsageError("--prompt TEXT is required");
  const RoutingQuantity quantity = quantityArg(args);
  const std::string module = args.get("--module", "");
  const bool one_layer = args.get("--layer").has_value();
  const int layer = args.getNumber<int>("--layer", 1) - 1;  // 0-based

  std::optional<RunStore> store;
  if (run) store.emplace(runStoreArg(args, false));
  ModelSubject subject = run ? subjectFromRun(args, *store, run) : subjectFromModel(args);
  const std::vector<int> ids = subject.tokenizer->encode(*prompt, true, false);
  TokenRouting routing;
  {
    std::optional<AutocastGuard> amp;
    if (subject.autocast) amp.emplace(subject.model->embed.device().type(), *subject.autocast);
    routing = traceTokenRouting(subject.model, *subject.tokenizer, ids);
  }
  const auto json = args.get("--json");
  if (json) writeJson(*json, routing);
  if (json && *json == "-") return 0;  // stdout holds the document alone
  try {
    std::cout << (one_layer ? layerRoutingTable(routing, layer, quantity, module)
                            : tokenRoutingTable(routing, module));
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string(one_layer ? "--layer/--module: " : "--module: ") + e.what());
  }
  return 0;
}

}  // namespace mola::cli
