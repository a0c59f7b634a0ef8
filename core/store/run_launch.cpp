// SPDX-License-Identifier: GPL-3.0-or-later
// Run bookkeeping shared by the CLI and the GUI: run rows, run folders, resume points.
#include "store/run_launch.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "adapters/allocation.h"

namespace mola {

namespace fs = std::filesystem;

RunStore openRunStore(const fs::path& path, int* interrupted) {
  if (!path.parent_path().empty()) fs::create_directories(path.parent_path());
  RunStore store = RunStore::open(path);
  const int n = store.markInterruptedRuns();
  if (interrupted) *interrupted = n;
  return store;
}

std::optional<int> modelDepth(const std::string& model_path) {
  // Every builtin: model is the 4-layer tiny LLaMA (seeded or pretrained).
  if (model_path.rfind("builtin:", 0) == 0) return 4;
  std::error_code ec;
  if (fs::is_directory(model_path, ec)) {
    std::ifstream in(fs::path(model_path) / "config.json");
    if (!in) return std::nullopt;
    const nlohmann::json config = nlohmann::json::parse(in, nullptr, false);
    if (config.is_discarded() || !config.is_object()) return std::nullopt;
    const auto it = config.find("num_hidden_layers");
    if (it == config.end() || !it->is_number_integer()) return std::nullopt;
    const int layers = it->get<int>();
    return layers > 0 ? std::optional<int>(layers) : std::nullopt;
  }
  if (fs::is_regular_file(model_path, ec)) {
    // llama2.c header: int32 dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab, seq_len.
    std::ifstream in(model_path, std::ios::binary);
    int32_t header[3] = {};
    if (!in.read(reinterpret_cast<char*>(header), sizeof header)) return std::nullopt;
    if (header[2] > 0 && header[2] <= 1024) return header[2];
  }
  return std::nullopt;
}

std::string storedAllocation(const ExperimentConfig& config) {
  if (config.method == "full") return "";
  const std::optional<int> layers = modelDepth(config.model);
  if (config.method == "lora") return layers ? Allocation::uniform(1, *layers).toList() : "1";
  if (!layers) return config.allocation;
  try {
    return Allocation::parse(config.allocation, *layers).toList();
  } catch (const std::invalid_argument&) {
    return config.allocation;  // e.g. a per-layer list for another depth: the trainer names it
  }
}

int64_t createRunFor(RunStore& store, const ExperimentConfig& config) {
  return store.createRun(config.name, experimentToJson(config), storedAllocation(config),
                         config.model);
}

fs::path runDirectory(const RunStore& store, int64_t run) {
  return store.path().parent_path() / "runs" / std::to_string(run);
}

std::optional<CheckpointRecord> latestCheckpoint(const RunStore& store, int64_t run) {
  const std::vector<CheckpointRecord> all = store.checkpoints(run);
  if (all.empty()) return std::nullopt;
  return *std::max_element(all.begin(), all.end(),
                           [](const auto& a, const auto& b) { return a.step < b.step; });
}

ResumePlan prepareResume(RunStore& store, int64_t id) {
  const RunRecord run = store.run(id);
  const std::string what = "run " + std::to_string(id);
  if (run.status == RunStatus::Completed) throw std::runtime_error(what + " is already completed");
  if (run.status == RunStatus::Running) throw std::runtime_error(what + " is still running");
  std::optional<CheckpointRecord> last = latestCheckpoint(store, id);
  if (!last) throw std::runtime_error(what + " has no checkpoint to resume from");
  ResumePlan plan{parseExperiment(run.config_json, what), *last};
  store.truncateAfter(id, last->step);
  store.setStatus(id, RunStatus::Running);
  return plan;
}

}  // namespace mola
