// SPDX-License-Identifier: GPL-3.0-or-later
// The text of the workbench's PDF reports (the plots follow it): one run, or runs compared.
#pragma once

#include <QString>
#include <QStringList>
#include <vector>

#include "compare_view.h"
#include "store/run_store.h"

namespace mola::app {

// Name, status, model, allocation, host, times, steps and final loss; every score with its 95 %
// interval; the full configuration.
QString runReportHtml(const RunRecord& run, double final_loss,
                      const std::vector<EvalScore>& scores);

// A table of the runs (allocation, status, steps, final loss, last score), the configuration keys
// whose values differ, and every run's scores.
QString comparisonReportHtml(const std::vector<widgets::ComparedRun>& runs,
                             const QStringList& differing_keys);

}  // namespace mola::app
