// SPDX-License-Identifier: GPL-3.0-or-later
// mola runs list | show | compare | export | delete: reading the run store back (read-only but
// for delete), with text from the database made safe for the terminal.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "adapters/adapter_file.h"
#include "commands.h"
#include "model/hf_export.h"
#include "store/paired_scores.h"
#include "store/run_csv.h"
#include "store_args.h"
#include "text.h"
#include "train/checkpoint_files.h"

namespace mola::cli {

namespace {

namespace fs = std::filesystem;

// "a.b.c" -> value, for every leaf of a JSON document.
void flatten(const nlohmann::json& j, const std::string& prefix,
             std::map<std::string, std::string>& out) {
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) flatten(v, prefix.empty() ? k : prefix + "." + k, out);
  } else {
    out[prefix] = j.is_string() ? j.get<std::string>() : j.dump();
  }
}

// The last score on the run's own benchmark (primaryBenchmark).
std::string finalScore(const RunStore& store, int64_t run) {
  const auto scores = store.evalScores(run);
  const std::string benchmark = primaryBenchmark(scores, evaluatedBenchmarkOf(store.run(run)));
  for (auto it = scores.rbegin(); it != scores.rend(); ++it)
    if (it->benchmark == benchmark) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.4f", it->accuracy);
      return buf;
    }
  return "-";
}

std::string finalLoss(const RunStore& store, int64_t run) {
  const auto loss = store.metrics(run, "loss");
  if (loss.empty()) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.4f", loss.back().value);
  return buf;
}

// A MOELoRA run's last task-gate snapshot: per layer, each task's expert weights.
void printTaskWeights(const RunStore& store, int64_t run) {
  const std::vector<RouterStatsSnapshot> snapshots = store.routerStats(run);
  if (snapshots.empty() || snapshots.back().tasks.empty()) return;
  const RouterStatsSnapshot& s = snapshots.back();
  std::printf("task gate weights at step %lld (per layer, each task's weight of every expert):\n",
              static_cast<long long>(s.step));
  for (size_t j = 0; j < s.task_weights.size(); ++j)
    for (size_t t = 0; t < s.task_weights[j].size() && t < s.tasks.size(); ++t) {
      std::printf("  layer %3zu  %-16s", j + 1, printableText(s.tasks[t]).c_str());
      for (double w : s.task_weights[j][t]) std::printf(" %.3f", w);
      std::printf("\n");
    }
}

// A text table column of database text: printable, cut at `width` characters, padded.
std::string cell(const std::string& text, size_t width) {
  return textColumn(printableText(text, false), width);
}

int listRuns(const Args& args) {
  args.allowOnly({"--db", "--search", "--study"});
  const std::string search = args.get("--search", "");
  const int64_t study = args.get("--study") ? parseRunId(*args.get("--study")) : 0;
  const fs::path path = dbPath(args);
  std::printf("%5s  %s  %s  %7s  %s  %8s  %8s  %s\n", "id", cell("name", 24).c_str(),
              cell("status", 11).c_str(), "steps", cell("allocation", 18).c_str(), "loss", "score",
              "created");
  if (!fs::exists(path)) {
    std::printf("(no runs yet: %s does not exist)\n", printableText(path.string()).c_str());
    return 0;
  }
  const RunStore store = openStoreToRead(args);
  for (const RunRecord& r : store.listRuns()) {
    if ((study && r.study != study) || !runMatchesSearch(r, search)) continue;
    std::printf("%5lld  %s  %s  %7lld  %s  %8s  %8s  %s\n", static_cast<long long>(r.id),
                cell(r.name, 24).c_str(), cell(runStatusName(r.status), 11).c_str(),
                static_cast<long long>(r.last_step), cell(r.allocation, 18).c_str(),
                finalLoss(store, r.id).c_str(), finalScore(store, r.id).c_str(),
                printableText(r.created_at).c_str());
  }
  return 0;
}

int showRun(const Args& args) {
  args.allowOnly({"--db"});
  if (args.positional.size() != 1) throw UsageError("mola runs show takes one RUN_ID");
  const RunStore store = openStoreToRead(args);
  const RunRecord r = store.run(parseRunId(args.positional[0]));
  std::printf(
      "run %lld: %s\nstatus: %s%s%s\ncreated: %s\nfinished: %s\nmodel: %s\nallocation: %s\n"
      "host: %s\nsteps: %lld\nfinal loss: %s\n",
      static_cast<long long>(r.id), printableText(r.name).c_str(), runStatusName(r.status).c_str(),
      r.message.empty() ? "" : " - ", printableText(r.message).c_str(),
      printableText(r.created_at).c_str(),
      r.finished_at.empty() ? "-" : printableText(r.finished_at).c_str(),
      printableText(r.model).c_str(), printableText(r.allocation).c_str(),
      printableText(r.host).c_str(), static_cast<long long>(r.last_step),
      finalLoss(store, r.id).c_str());
  if (r.study)
    std::printf("study: %lld, variant %s\n", static_cast<long long>(r.study),
                printableText(r.variant).c_str());
  if (!r.tags.empty()) {
    std::string tags;
    for (const std::string& t : r.tags) tags += (tags.empty() ? "" : ", ") + t;
    std::printf("tags: %s\n", printableText(tags).c_str());
  }
  if (!r.note.empty()) std::printf("note: %s\n", printableText(r.note).c_str());
  for (const EvalScore& s : store.evalScores(r.id))
    std::printf("eval at step %lld: %s %s accuracy %.4f (95%% CI %.4f-%.4f, n %lld)\n",
                static_cast<long long>(s.step), printableText(s.benchmark).c_str(),
                printableText(s.protocol).c_str(), s.accuracy, s.ci_low, s.ci_high,
                static_cast<long long>(s.n));
  printTaskWeights(store, r.id);
  for (const CheckpointRecord& c : store.checkpoints(r.id))
    std::printf("checkpoint at step %lld: %s\n", static_cast<long long>(c.step),
                printableText(c.path).c_str());
  std::printf("config:\n%s\n", printableText(r.config_json).c_str());
  return 0;
}

// Each run's final score beside runs[reference]'s, question by question, on the reference's
// benchmark (pairPredictions).
void printPairedScores(const RunStore& store, const std::vector<RunRecord>& runs,
                       size_t reference) {
  const RunRecord& ref = runs[reference];
  const std::vector<EvalScore> ref_scores = store.evalScores(ref.id);
  const std::string benchmark = primaryBenchmark(ref_scores, evaluatedBenchmarkOf(ref));
  if (benchmark.empty()) return;
  // The split and protocol of the newest score stored on it, and the final score of those.
  const auto last = std::find_if(ref_scores.rbegin(), ref_scores.rend(),
                                 [&](const EvalScore& e) { return e.benchmark == benchmark; });
  if (last == ref_scores.rend()) return;
  const std::optional<EvalScore> ref_score =
      finalScoreOn(ref_scores, benchmark, last->split, last->protocol);
  std::printf("paired with run %lld's final score on %s:\n", static_cast<long long>(ref.id),
              printableText(benchmark).c_str());
  const std::vector<StoredPrediction> ref_predictions = store.predictions(ref_score->id);
  const std::string a = "run " + std::to_string(ref.id);
  for (size_t i = 0; i < runs.size(); ++i) {
    if (i == reference) continue;
    const std::string b = "run " + std::to_string(runs[i].id);
    const std::optional<EvalScore> other = finalScoreOn(
        store.evalScores(runs[i].id), ref_score->benchmark, ref_score->split, ref_score->protocol);
    const std::vector<StoredPrediction> predictions =
        other ? store.predictions(other->id) : std::vector<StoredPrediction>();
    std::string line;
    if (!other)
      line = "not scored on it";
    else if (ref_predictions.empty() || predictions.empty())
      line = "no stored predictions to pair";
    else
      line = describePairedScores(pairPredictions(predictions, ref_predictions), b, a);
    std::printf("  %s: %s\n", b.c_str(), line.c_str());
  }
}

int compareRuns(const Args& args) {
  args.allowOnly({"--db", "--against"});
  if (args.positional.size() < 2) throw UsageError("mola runs compare takes two or more RUN_IDs");
  const RunStore store = openStoreToRead(args);
  std::vector<RunRecord> runs;
  std::vector<std::map<std::string, std::string>> configs;
  std::set<std::string> keys;
  for (const std::string& id : args.positional) {
    runs.push_back(store.run(parseRunId(id)));
    configs.emplace_back();
    flatten(nlohmann::json::parse(runs.back().config_json), "", configs.back());
    for (const auto& [k, v] : configs.back()) keys.insert(k);
  }
  size_t reference = 0;
  if (const auto against = args.get("--against")) {
    const int64_t id = parseRunId(*against);
    const auto it =
        std::find_if(runs.begin(), runs.end(), [&](const RunRecord& r) { return r.id == id; });
    if (it == runs.end())
      throw UsageError("--against " + *against + ": run " + std::to_string(id) +
                       " is not among the compared runs");
    reference = size_t(it - runs.begin());
  }
  const auto row = [&](char mark, const std::string& key, auto value) {
    std::printf("%c %s", mark, cell(key, 34).c_str());
    for (size_t i = 0; i < runs.size(); ++i) std::printf("  %s", cell(value(i), 22).c_str());
    std::printf("\n");
  };
  row(' ', "key", [&](size_t i) { return "run " + std::to_string(runs[i].id); });
  for (const std::string& k : keys) {
    std::set<std::string> values;
    for (const auto& c : configs) values.insert(c.count(k) ? c.at(k) : "-");
    row(values.size() > 1 ? '*' : ' ', k,
        [&](size_t i) { return configs[i].count(k) ? configs[i].at(k) : std::string("-"); });
  }
  row(' ', "status", [&](size_t i) { return runStatusName(runs[i].status); });
  row(' ', "final loss", [&](size_t i) { return finalLoss(store, runs[i].id); });
  row(' ', "final score", [&](size_t i) { return finalScore(store, runs[i].id); });
  std::printf("(* marks keys whose values differ)\n");
  printPairedScores(store, runs, reference);
  return 0;
}

// The adapter of the run's newest intact checkpoint as a PEFT adapter directory.
void exportPeft(const RunStore& store, int64_t id, const fs::path& out) {
  const RunRecord run = store.run(id);
  const CheckpointChoice choice = newestIntactCheckpoint(store, id);
  if (!choice.chosen)
    throw std::runtime_error("run " + std::to_string(id) + " has no intact checkpoint to export");
  const fs::path file = fs::path(choice.chosen->second) / CheckpointFiles::kAdapter;
  if (!fs::exists(file))
    throw std::runtime_error("run " + std::to_string(id) +
                             " trained every weight: it has no adapter to export");
  exportPeftAdapter(loadAdapterFile(file), out, run.model);
  std::printf("wrote the adapter of step %lld as a PEFT LoRA adapter to %s\n",
              static_cast<long long>(choice.chosen->first), printableText(out.string()).c_str());
}

int exportRun(const Args& args) {
  args.allowOnly({"--db", "--csv", "--peft"});
  if (args.positional.size() != 1 || (!args.get("--csv") && !args.get("--peft")))
    throw UsageError("mola runs export takes RUN_ID --csv DIR and/or --peft DIR");
  const RunStore store = openStoreToRead(args);
  const int64_t id = parseRunId(args.positional[0]);
  store.run(id);  // errors on an unknown id before anything is written
  if (auto peft = args.get("--peft")) exportPeft(store, id, *peft);
  if (!args.get("--csv")) return 0;
  const fs::path dir = *args.get("--csv");
  std::string names;
  for (const std::string& name : exportRunCsv(store, id, dir))
    names += (names.empty() ? "" : ", ") + name;
  std::printf("wrote %s to %s\n", names.c_str(), printableText(dir.string()).c_str());
  return 0;
}

int deleteRun(const Args& args) {
  args.allowOnly({"--db"});
  if (args.positional.size() != 1) throw UsageError("mola runs delete takes one RUN_ID");
  if (!fs::exists(dbPath(args)))
    throw std::runtime_error(dbPath(args).string() + ": does not exist");
  RunStore store = openStoreToWrite(args);
  const int64_t id = parseRunId(args.positional[0]);
  store.deleteRun(id);  // refuses a run that a live process trains
  std::printf("deleted run %lld\n", static_cast<long long>(id));
  return 0;
}

// mola runs tag ID TAG... [--remove TAG ...]; mola runs note ID TEXT.
int labelRun(const Args& args, bool note) {
  args.allowOnly({"--db", "--remove"});
  if (args.positional.empty() || (note && args.positional.size() != 2))
    throw UsageError(note ? "mola runs note takes RUN_ID TEXT (\"\" clears it)"
                          : "mola runs tag takes RUN_ID TAG... [--remove TAG ...]");
  RunStore store = openStoreToWrite(args);
  const int64_t id = parseRunId(args.positional[0]);
  if (note) {
    store.setNote(id, args.positional[1]);
    std::printf("run %lld: note %s\n", static_cast<long long>(id),
                args.positional[1].empty() ? "cleared" : "set");
    return 0;
  }
  std::set<std::string> tags;
  for (const std::string& t : store.run(id).tags) tags.insert(t);
  for (size_t i = 1; i < args.positional.size(); ++i) tags.insert(args.positional[i]);
  for (const std::string& t : args.getAll("--remove")) tags.erase(t);
  store.setTags(id, {tags.begin(), tags.end()});
  std::string shown;
  for (const std::string& t : store.run(id).tags) shown += (shown.empty() ? "" : ", ") + t;
  std::printf("run %lld: tags %s\n", static_cast<long long>(id),
              shown.empty() ? "(none)" : printableText(shown).c_str());
  return 0;
}

}  // namespace

int cmdRuns(const Args& args, const std::string& sub) {
  if (sub == "list") return listRuns(args);
  if (sub == "show") return showRun(args);
  if (sub == "compare") return compareRuns(args);
  if (sub == "export") return exportRun(args);
  if (sub == "delete") return deleteRun(args);
  if (sub == "tag" || sub == "note") return labelRun(args, sub == "note");
  throw UsageError("mola runs expects list, show, compare, export, delete, tag or note");
}

}  // namespace mola::cli
