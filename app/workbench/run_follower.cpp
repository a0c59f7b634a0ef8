// SPDX-License-Identifier: GPL-3.0-or-later
// RunFollower: incremental reads of one run from the store.
#include "run_follower.h"

#include <algorithm>

namespace mola::app {

RunUpdate RunFollower::poll(const RunStore& store) {
  RunUpdate update;
  update.record = store.run(m_run);
  // A resumed run drops its steps after the checkpoint and writes them again: start over.
  const bool went_back = !m_first && update.record.last_step < m_last_step;
  update.reset = m_first || went_back;
  const int64_t after = update.reset ? -1 : m_last_step;
  const int64_t after_router = update.reset ? -1 : m_last_router_step;
  const int64_t after_score = update.reset ? 0 : m_last_score_id;

  update.metrics = store.metrics(m_run, "", after);
  for (RouterStatsSnapshot& s : store.routerStats(m_run))
    if (s.step > after_router) update.router.push_back(std::move(s));
  for (EvalScore& s : store.evalScores(m_run))
    if (s.id > after_score) update.scores.push_back(std::move(s));

  // Committed only now: a read that threw above leaves the follower where it was.
  m_first = false;
  m_last_step = after;
  for (const MetricPoint& p : update.metrics) m_last_step = std::max(m_last_step, p.step);
  m_last_router_step = after_router;
  for (const RouterStatsSnapshot& s : update.router)
    m_last_router_step = std::max(m_last_router_step, s.step);
  m_last_score_id = after_score;
  for (const EvalScore& s : update.scores) m_last_score_id = std::max(m_last_score_id, s.id);
  return update;
}

}  // namespace mola::app
