// SPDX-License-Identifier: GPL-3.0-or-later
// Putting a study's runs in the run store's queue: what `mola study` and the workbench share
// (torch-free; a study's advice must be resolved first).
#pragma once

#include <string>

#include "store/run_store.h"
#include "study/study_spec.h"

namespace mola {

// Records the study and queues the runs it does not have yet (RunStore::addStudy).
StudyAdded queueStudy(RunStore& store, const StudySpec& spec);

// The study as stored in the database (its base written in), ready to expand again.
StudySpec storedStudy(const RunStore& store, int64_t study);

// Adds a MoLA variant with per-layer `allocation` ("2,3,5,6") to a stored study and queues it
// for every seed of the study. std::invalid_argument when the study already has a variant of
// that name.
StudyAdded addVariantToStudy(RunStore& store, int64_t study, const std::string& name,
                             const std::string& allocation, const std::string& description);

}  // namespace mola
