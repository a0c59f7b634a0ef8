// SPDX-License-Identifier: GPL-3.0-or-later
// AdviceDialog: the allocation advisor on a pilot run: a budget, the proposal beside the pilot's
// allocation with its reasoning per layer, and where it goes next (the Design view, or a study as
// one more variant). Torch-free: the proposal is core/study/advisor.h's adviseFromRouter.
#pragma once

#include <QDialog>
#include <optional>
#include <vector>

#include "adapters/router_stats.h"
#include "store/run_store.h"
#include "study/advisor.h"

class QComboBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QPushButton;
class QSpinBox;

namespace mola::widgets {

class AllocationSilhouette;

class AdviceDialog : public QDialog {
  Q_OBJECT

 public:
  // `pilot`'s allocation with its router statistics; `studies` can take the proposal.
  AdviceDialog(const RunRecord& pilot, const Allocation& allocation,
               std::vector<RouterStatsSnapshot> stats, int top_k,
               const std::vector<StudyRecord>& studies, QWidget* parent = nullptr);

  // The proposal for the current budget and minimum (none when they cannot be met).
  const std::optional<AllocationAdvice>& advice() const { return m_advice; }
  QSpinBox* budgetBox() const { return m_budget; }
  QSpinBox* minimumBox() const { return m_minimum; }
  QComboBox* studyBox() const { return m_study; }
  QLineEdit* nameEdit() const { return m_name; }
  QPushButton* designButton() const { return m_design; }
  QPushButton* studyButton() const { return m_to_study; }
  QPlainTextEdit* reasoning() const { return m_reasoning; }

 signals:
  void useInDesign(const mola::Allocation& allocation);
  void addToStudy(qint64 study, const QString& name, const mola::Allocation& allocation,
                  const QString& description);

 private:
  void propose();

  Allocation m_pilot;
  std::vector<RouterStatsSnapshot> m_stats;
  std::optional<AllocationAdvice> m_advice;
  QSpinBox* m_budget;
  QSpinBox* m_minimum;
  AllocationSilhouette* m_before;
  AllocationSilhouette* m_after;
  QLabel* m_lists;
  QPlainTextEdit* m_reasoning;
  QComboBox* m_study;
  QLineEdit* m_name;
  QPushButton* m_design;
  QPushButton* m_to_study;
};

}  // namespace mola::widgets
