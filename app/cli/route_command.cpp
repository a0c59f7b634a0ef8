// SPDX-License-Identifier: GPL-3.0-or-later
// mola route: which experts each token of a text goes to, per layer (token_routing.h).
#include <ATen/ATen.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>

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

TokenRouting trace(ModelSubject& subject, const std::string& text) {
  if (text.empty()) throw std::invalid_argument("the text to trace is empty");
  const std::vector<int> ids = subject.tokenizer->encode(text, true, false);
  std::optional<AutocastGuard> amp;
  if (subject.autocast) amp.emplace(subject.model->embed.device().type(), *subject.autocast);
  return traceTokenRouting(subject.model, *subject.tokenizer, ids);
}

// --serve: the model stays loaded; each line of standard input is a JSON object {"prompt": TEXT}
// and gets one line on standard output, its routing document or {"error": WHY}, until the input
// ends. A line that cannot be traced does not end the service.
int serve(ModelSubject& subject) {
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::string reply;
    try {
      const nlohmann::json request = nlohmann::json::parse(line);
      if (!request.is_object() || !request.contains("prompt") || !request["prompt"].is_string())
        throw std::invalid_argument("a request is a JSON object {\"prompt\": TEXT}");
      reply = tokenRoutingToJson(trace(subject, request["prompt"].get<std::string>()));
    } catch (const std::exception& e) {
      reply = nlohmann::json{{"error", e.what()}}.dump();
    }
    std::cout << reply << "\n" << std::flush;
  }
  return 0;
}

}  // namespace

int cmdRoute(const Args& args) {
  args.allowOnly({"--model", "--tokenizer", "--adapter", "--run", "--db", "--prompt", "--layer",
                  "--module", "--quantity", "--json", "--dtype", "--device", "--serve"});
  const int64_t run = runArg(args);
  const bool serving = args.get("--serve").has_value();
  const auto prompt = args.get("--prompt");
  if (serving && (prompt || args.get("--json") || args.get("--layer") || args.get("--module")))
    throw UsageError(
        "--serve reads the texts from standard input and writes JSON: no --prompt, "
        "--json, --layer or --module");
  if (!serving && (!prompt || prompt->empty())) throw UsageError("--prompt TEXT is required");
  const RoutingQuantity quantity = quantityArg(args);
  const std::string module = args.get("--module", "");
  const bool one_layer = args.get("--layer").has_value();
  const int layer = args.getNumber<int>("--layer", 1) - 1;  // 0-based

  std::optional<RunStore> store;
  if (run) store.emplace(runStoreArg(args, false));
  ModelSubject subject = run ? subjectFromRun(args, *store, run) : subjectFromModel(args);
  if (serving) {
    store.reset();  // the checkpoint is loaded: no connection stays open while serving
    return serve(subject);
  }
  const TokenRouting routing = trace(subject, *prompt);
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
