// SPDX-License-Identifier: GPL-3.0-or-later
// The allocation advisor on the command line: `mola advise`, and a study's "advise" entries.
#pragma once

#include "cli_args.h"
#include "store/run_store.h"
#include "study/advisor.h"
#include "study/study_spec.h"

namespace mola::cli {

// Replaces the study's advice requests by variants with the proposed allocations (the router
// strategy reads its pilot run from `store`).
void resolveAdvice(StudySpec& spec, const RunStore& store);

// mola advise RUN_ID --budget N | --model PATH --budget N.
int cmdAdvise(const Args& args);

}  // namespace mola::cli
