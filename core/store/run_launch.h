// SPDX-License-Identifier: GPL-3.0-or-later
// Run bookkeeping shared by `mola train/resume` and the GUI: opening the store, creating a run row,
// its directory, and where a stopped run resumes (torch-free).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "experiment/experiment_config.h"
#include "store/run_store.h"
#include "train/checkpoint_files.h"

namespace mola {

// Opens (creating it and its folder when absent) the run database at `path` for writing and marks
// the runs whose process has gone as Interrupted; `interrupted`, when given, receives how many.
RunStore openRunStore(const std::filesystem::path& path, int* interrupted = nullptr);

// The decoder depth of a model path when it can be told without loading weights (probeModelShape:
// builtin:* (4), a Hugging Face directory's config.json, a GGUF file's metadata, a llama2.c
// file's header). nullopt otherwise (missing or unreadable files included: loading reports those).
std::optional<int> modelDepth(const std::string& model_path);

// What a run row records as its allocation: the per-layer list ("2,2,4,4,...") when the depth is
// known, the spec as written when not, "1,1,..." (or "1") for plain LoRA, "" for full fine-tuning.
std::string storedAllocation(const ExperimentConfig& config);

// A new Running row for `config` (name, canonical JSON, storedAllocation, model; the store adds
// the time and host). Returns its id.
int64_t createRunFor(RunStore& store, const ExperimentConfig& config);

// What every checkpoint of the run records, and what resuming requires of one.
CheckpointIdentity checkpointIdentity(const RunStore& store, int64_t run);

// The processes (training.processes) that train `run`, from its stored experiment: a resume
// starts as many. Throws std::invalid_argument naming the run when the document cannot be read.
int storedProcesses(const RunRecord& run);

// The checkpoint with the highest step, if the run has any.
std::optional<CheckpointRecord> latestCheckpoint(const RunStore& store, int64_t run);
// Of the run's recorded checkpoints, the newest intact one of this store and run, and each newer
// one passed over (chooseResumeCheckpoint): what resume, export and scoring start from.
CheckpointChoice newestIntactCheckpoint(const RunStore& store, int64_t run);

// What a resumed run needs: its experiment, the checkpoint to continue from (none: the run starts
// again from step 0), and what the user should hear about (damaged or foreign checkpoints that
// were passed over).
struct ResumePlan {
  ExperimentConfig config;
  std::optional<CheckpointRecord> checkpoint;
  std::vector<std::string> notes;
};

// Readies run `id` to continue: claims it (RunStore::claimRun: a StoreError for a completed run,
// an unknown one, or one a live process trains), picks its newest intact checkpoint of this store
// and run, drops what the run stored after that checkpoint (it is recomputed; everything when
// there is none) and leaves it Running, owned by `store`. When anything after the claim fails the
// run is marked Interrupted again and the error passes on.
ResumePlan prepareResume(RunStore& store, int64_t id);

}  // namespace mola
