// SPDX-License-Identifier: GPL-3.0-or-later
// The files of a training checkpoint on disk, without Torch: the manifest that makes a checkpoint
// verifiable (its store, run, step, and each file's size and CRC-32), the atomic installation of a
// finished checkpoint folder, and the choice of the newest intact checkpoint to resume from.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace mola {

// A checkpoint that cannot be written or read; the message names the folder or file and the
// cause (e.g. "No space left on device").
class CheckpointError : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Which run of which store a checkpoint belongs to. An empty store_id (a run outside any store,
// such as a test's) matches only checkpoints written without one.
struct CheckpointIdentity {
  std::string store_id;
  int64_t run = 0;
  bool operator==(const CheckpointIdentity&) const = default;
};

// The file names inside a checkpoint folder.
struct CheckpointFiles {
  static constexpr const char* kAdapter = "adapter.safetensors";  // mola / lora
  static constexpr const char* kWeights = "weights.safetensors";  // full fine-tuning
  static constexpr const char* kOptimizer = "optimizer.pt";
  static constexpr const char* kRandomState = "random_state.pt";  // generators, router sums
  static constexpr const char* kState = "trainer_state.json";     // step, data position, seed
  static constexpr const char* kManifest = "manifest.json";       // written last
};

// CRC-32 (IEEE 802.3, as zlib and PNG): crc32("123456789") == 0xCBF43926. Chain calls by passing
// the previous result.
uint32_t crc32(const void* data, size_t size, uint32_t crc = 0);

// fsync of a file or folder; throws CheckpointError naming it.
void syncPath(const std::filesystem::path& path);

// Writes `dir`/manifest.json for the listed files of `dir` (each read back for its size and
// CRC-32) and syncs it.
void writeCheckpointManifest(const std::filesystem::path& dir,
                             const std::vector<std::string>& files, int64_t step,
                             const CheckpointIdentity& identity);

// What is wrong with the checkpoint in `dir` for run `expected` ("" when it is intact): a missing
// or unreadable manifest, another store's or run's checkpoint, a file missing, cut short or
// changed (the message names the file). A folder written before manifests existed (it has a
// trainer_state.json but no manifest) is accepted unverified.
std::string checkpointProblem(const std::filesystem::path& dir, const CheckpointIdentity& expected);

// Moves the finished folder `tmp` to `dir` in one step: renamed when `dir` does not exist,
// atomically exchanged with it (renameat2 RENAME_EXCHANGE) when it does, so that a crash leaves
// either the old or the new checkpoint at `dir`, never none; the old one is then removed. Syncs
// the parent folder.
void installCheckpointFolder(const std::filesystem::path& tmp, const std::filesystem::path& dir);

// Among recorded checkpoints (path by step, any order), the newest intact one for `expected`;
// each newer one that is damaged or foreign is described in `skipped` ("step 20 (path): why").
struct CheckpointChoice {
  std::optional<std::pair<int64_t, std::string>> chosen;  // step, path
  std::vector<std::string> skipped;
};
CheckpointChoice chooseResumeCheckpoint(std::vector<std::pair<int64_t, std::string>> recorded,
                                        const CheckpointIdentity& expected);

}  // namespace mola
