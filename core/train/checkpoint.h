// SPDX-License-Identifier: GPL-3.0-or-later
// Checkpoint: everything a training run needs to continue exactly where it stopped (weights,
// optimizer, data position, every random generator, the router statistics of the open window, and
// which store and run it belongs to), written atomically and read back verified.
#pragma once

#include <c10/core/Device.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "model/llama_model.h"
#include "train/checkpoint_files.h"

namespace torch::optim {
class Optimizer;
}  // namespace torch::optim

namespace mola {

class RouterStatsAccumulator;

// Where training stands: optimizer steps done, the epoch, and the next example of its order.
struct TrainingPosition {
  int64_t step = 0, epoch = 0;
  size_t cursor = 0;
};

// What a checkpoint is made of (pointers to the live objects; router may be null).
struct CheckpointParts {
  std::string method;  // "mola" | "lora" | "full": the adapter file, or every weight
  LlamaModel* model = nullptr;
  torch::optim::Optimizer* optimizer = nullptr;
  RouterStatsAccumulator* router = nullptr;
  TrainingPosition position;
  uint64_t seed = 0;
  int world_size = 1;  // the data-parallel ranks that trained it
};

// Writes a checkpoint into `dir`: every file into `dir`.tmp (serialised through a writer that
// records the first failed write instead of letting LibTorch abort), each synced, the manifest
// last, then one atomic move into place (installCheckpointFolder). On any failure (a full disk
// among them) the temporary folder is removed, `dir` keeps what it held, and a CheckpointError
// names `dir` and the cause.
void writeCheckpoint(const std::filesystem::path& dir, const CheckpointParts& parts,
                     const CheckpointIdentity& identity);

// Reads a checkpoint back in the order a resume needs it: the constructor verifies it against its
// manifest and `expected` (throwing a CheckpointError that names the damaged file or the foreign
// owner) and reads the position; then the model's weights, then (once the caller has built its
// optimizer over the restored parameters) the optimizer state, and the random state last, just
// before the first step.
class CheckpointReader {
 public:
  CheckpointReader(std::filesystem::path dir, const CheckpointIdentity& expected);

  const std::filesystem::path& dir() const { return m_dir; }
  const TrainingPosition& position() const { return m_position; }
  // The ranks of the run that wrote it (1 for a checkpoint written before ranks existed).
  int worldSize() const { return m_world_size; }
  void restoreModel(LlamaModel& model, const std::string& method) const;
  void restoreOptimizer(torch::optim::Optimizer& optimizer) const;
  // Generators (CPU and CUDA), and the router sums when `router` is given.
  void restoreRandomState(RouterStatsAccumulator* router, const c10::Device& device) const;

 private:
  std::filesystem::path m_dir;
  TrainingPosition m_position;
  int m_world_size = 1;
};

}  // namespace mola
