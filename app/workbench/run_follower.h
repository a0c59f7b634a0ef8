// SPDX-License-Identifier: GPL-3.0-or-later
// RunFollower: reads what one stored run gained since the last look (metrics, router statistics,
// scores, its row), so a view can follow a run that another process trains (torch-free).
#pragma once

#include <cstdint>
#include <vector>

#include "store/run_store.h"

namespace mola::app {

// What poll() found since the previous poll.
struct RunUpdate {
  RunRecord record;  // the run's row as it is now
  // True when the view must drop what it shows before taking the points below: the first poll,
  // and a run that went back (a resume dropped the steps after its checkpoint).
  bool reset = false;
  std::vector<MetricPoint> metrics;  // by step
  std::vector<RouterStatsSnapshot> router;
  std::vector<EvalScore> scores;
  bool empty() const { return !reset && metrics.empty() && router.empty() && scores.empty(); }
};

// Remembers how far one run has been read. Polling costs one row read, one metrics query from the
// last step on, and the router and score lists (small: one row per interval or evaluation).
class RunFollower {
 public:
  explicit RunFollower(int64_t run) : m_run(run) {}

  int64_t runId() const { return m_run; }
  // The first call returns everything stored, with reset set. Throws StoreError when the run is
  // gone (deleted) or the store cannot be read; the follower is unchanged then.
  RunUpdate poll(const RunStore& store);
  // The highest metric step read so far (-1 before any).
  int64_t lastStep() const { return m_last_step; }

 private:
  int64_t m_run;
  bool m_first = true;
  int64_t m_last_step = -1;
  int64_t m_last_router_step = -1;
  int64_t m_last_score_id = 0;
};

}  // namespace mola::app
