// SPDX-License-Identifier: GPL-3.0-or-later
// Fault points for the fault-injection tests: MOLA_FAULT_INJECT=NAME[@N] kills the process
// (SIGKILL, as a power cut or the OOM killer would) the N-th time (1 when not given) it passes the
// point NAME. Without the variable, which only tests set, a point costs one comparison
// (torch-free).
#pragma once

namespace mola {

// The points: "train.step" (a step's update done, nothing of it reported or stored),
// "checkpoint.files" (a checkpoint's files written, its manifest not), "checkpoint.manifest"
// (complete, not yet moved into place), "checkpoint.replaced" (exchanged with an older checkpoint
// of the same step, which is not yet removed), "checkpoint.installed" (in place, not yet recorded
// in the run store), "eval" (an evaluation computed, not reported), "pretraining.step" (a step of
// preparing the built-in base), "bench.VARIANT" (`mola bench`'s worker for VARIANT, before its
// model is built: a variant killed as the out-of-memory killer would).
void faultPoint(const char* name);

}  // namespace mola
