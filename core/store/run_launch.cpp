// SPDX-License-Identifier: GPL-3.0-or-later
// Run bookkeeping shared by the CLI and the GUI: run rows, run folders, resume points.
#include "store/run_launch.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "adapters/allocation.h"
#include "model/model_probe.h"

namespace mola {

namespace fs = std::filesystem;

namespace {

// While a run is being created or claimed, another process may hold the database's write lock
// for longer than the store's usual 5 s: wait for it rather than fail the command.
class PatientStore {
 public:
  explicit PatientStore(RunStore& store) : m_store(store) {
    m_store.setBusyTimeout(RunStore::kPatientBusyTimeoutMs);
  }
  ~PatientStore() { m_store.setBusyTimeout(RunStore::kBusyTimeoutMs); }
  PatientStore(const PatientStore&) = delete;
  PatientStore& operator=(const PatientStore&) = delete;

 private:
  RunStore& m_store;
};

}  // namespace

RunStore openRunStore(const fs::path& path, int* interrupted) {
  if (!path.parent_path().empty()) fs::create_directories(path.parent_path());
  RunStore store = RunStore::open(path);
  int n = 0;
  try {
    n = store.markInterruptedRuns();
  } catch (const StoreError& e) {
    // Housekeeping only: a dead run already reads as interrupted; another process holding the
    // write lock must not fail the command.
    if (!e.busy()) throw;
  }
  if (interrupted) *interrupted = n;
  return store;
}

std::optional<int> modelDepth(const std::string& model_path) {
  if (const std::optional<ModelShape> shape = probeModelShape(model_path)) return shape->num_layers;
  // A config.json that says its depth but not all of its architecture is enough here.
  std::error_code ec;
  if (!fs::is_directory(model_path, ec)) return std::nullopt;
  std::ifstream in(fs::path(model_path) / "config.json");
  const nlohmann::json config = nlohmann::json::parse(in, nullptr, false);
  if (config.is_discarded() || !config.is_object()) return std::nullopt;
  const auto it = config.find("num_hidden_layers");
  if (it == config.end() || !it->is_number_integer() || it->get<int>() <= 0) return std::nullopt;
  return it->get<int>();
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
  const PatientStore patient(store);
  return store.createRun(config.name, experimentToJson(config), storedAllocation(config),
                         config.model);
}

CheckpointIdentity checkpointIdentity(const RunStore& store, int64_t run) {
  return {store.storeId(), run};
}

int storedProcesses(const RunRecord& run) {
  return parseExperiment(run.config_json, "run " + std::to_string(run.id)).processes;
}

std::optional<CheckpointRecord> latestCheckpoint(const RunStore& store, int64_t run) {
  const std::vector<CheckpointRecord> all = store.checkpoints(run);
  if (all.empty()) return std::nullopt;
  return *std::max_element(all.begin(), all.end(),
                           [](const auto& a, const auto& b) { return a.step < b.step; });
}

CheckpointChoice newestIntactCheckpoint(const RunStore& store, int64_t run) {
  std::vector<std::pair<int64_t, std::string>> recorded;
  for (const CheckpointRecord& c : store.checkpoints(run)) recorded.emplace_back(c.step, c.path);
  return chooseResumeCheckpoint(std::move(recorded), checkpointIdentity(store, run));
}

ResumePlan prepareResume(RunStore& store, int64_t id) {
  const PatientStore patient(store);
  store.claimRun(id);
  try {
    const RunRecord run = store.run(id);
    ResumePlan plan{
        parseExperiment(run.config_json, "run " + std::to_string(id)), std::nullopt, {}};
    const CheckpointChoice choice = newestIntactCheckpoint(store, id);
    for (const std::string& why : choice.skipped)
      plan.notes.push_back("passed over the checkpoint of " + why);
    if (choice.chosen) {
      plan.checkpoint = CheckpointRecord{choice.chosen->first, choice.chosen->second};
    } else {
      plan.notes.push_back("run " + std::to_string(id) +
                           " has no intact checkpoint: it starts again from step 0");
    }
    store.truncateAfter(id, plan.checkpoint ? plan.checkpoint->step : 0);
    return plan;
  } catch (const std::exception& e) {
    try {
      store.setStatus(id, RunStatus::Interrupted, std::string("resuming failed: ") + e.what());
    } catch (const std::exception&) {
      // The store's own failure is what passes on below; the lock goes with the store.
    }
    throw;
  }
}

}  // namespace mola
