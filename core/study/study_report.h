// SPDX-License-Identifier: GPL-3.0-or-later
// A study's results from the run store: per variant, the mean and interval across seeds of the
// final and best accuracy, and paired differences against the baseline (torch-free).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/run_store.h"
#include "study/study_stats.h"

namespace mola {

// One queued run of the study and what it scored.
struct StudyRunResult {
  int64_t item = 0;
  int64_t run = 0;  // 0: not started
  std::string variant;
  int64_t seed = 0;
  std::string state;      // waiting | cancelled | a run status (running, completed, ...)
  double final_accuracy;  // at the run's last evaluation; NaN when it has none
  double best_accuracy;   // the highest of its evaluations; NaN when none
  int64_t final_step = 0, best_step = 0;
  double tokens_per_s;  // median over its steps; NaN when none
};

struct VariantSummary {
  std::string name;
  std::string allocation;  // per-layer list, as the runs store it ("1,1,1,1" for plain LoRA)
  std::string method;      // mola | lora | full
  int planned = 0;         // queued runs, cancelled ones excluded
  int completed = 0;       // completed runs: the only ones the figures use
  // Accuracy intervals are cut to [0, 1].
  MeanInterval final_accuracy, best_accuracy, tokens_per_s;
  int64_t parameters = -1;  // trainable parameters (-1: the model's shape cannot be read)
  // Against the baseline, over the seeds both completed (absent for the baseline itself).
  std::optional<PairedTest> final_vs_baseline, best_vs_baseline;
};

struct StudySummary {
  StudyRecord study;
  std::string baseline;
  std::string benchmark;  // the evaluation the accuracies come from
  int64_t eval_n = 0;     // its questions
  std::vector<StudyRunResult> runs;
  std::vector<VariantSummary> variants;  // in queue order
};

// Reads study `id` and its runs; `baseline` (empty: the study's own) names the variant the
// others are compared with (StoreError naming the variants when it is not one of them).
StudySummary summarizeStudy(const RunStore& store, int64_t id, const std::string& baseline = "");

// Router statistics averaged elementwise over snapshots (per layer: token shares, mean
// probabilities, entropies and load CV; tokens summed; the step is the latest). Layers absent
// from a snapshot average over the others.
RouterStatsSnapshot meanSnapshot(const std::vector<RouterStatsSnapshot>& snapshots);

// One variant's routing: the last router snapshot of each of its completed runs, averaged.
struct VariantRouting {
  std::string variant;
  std::string allocation;  // per-layer list
  RouterStatsSnapshot mean;
  int runs = 0;  // snapshots averaged (0: no completed run routed anything)
};
std::vector<VariantRouting> variantRouting(const RunStore& store, const StudySummary& summary);

enum class TableFormat { Text, Csv, Latex, Markdown };
// The table's header and rows as text cells: variant, seeds (completed/queued), final and best
// accuracy with their intervals, parameters, tokens/s, the paired difference from the baseline
// with its interval, and p.
std::vector<std::string> studyTableHeader(const StudySummary& summary);
std::vector<std::vector<std::string>> studyTableRows(const StudySummary& summary);
// The per-variant table (text: aligned columns with a header and a legend).
std::string studyTable(const StudySummary& summary, TableFormat format);
// One line per run: variant, seed, run id, state, final and best accuracy.
std::string studyRunsTable(const StudySummary& summary);

}  // namespace mola
