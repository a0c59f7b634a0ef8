// SPDX-License-Identifier: GPL-3.0-or-later
// AllocationEditCommand: one undoable change of an allocation, as the designer's undo stack
// holds it (torch-free).
#pragma once

#include <QUndoCommand>
#include <functional>
#include <vector>

#include "adapters/allocation.h"

namespace mola::widgets {

class AllocationEditCommand : public QUndoCommand {
 public:
  // Consecutive wheel steps on the same rows merge into one command.
  static constexpr int kWheelId = 0x4d6f4c41;  // "MoLA"

  using Apply = std::function<void(const Allocation&)>;
  // `layers`: the rows the edit set (0-based), used to decide merges; `wheel`: a wheel step.
  AllocationEditCommand(Apply apply, Allocation before, Allocation after, const QString& text,
                        std::vector<int> layers = {}, bool wheel = false);

  void undo() override;
  void redo() override;
  int id() const override { return m_wheel ? kWheelId : -1; }
  bool mergeWith(const QUndoCommand* other) override;

  const Allocation& before() const { return m_before; }
  const Allocation& after() const { return m_after; }

 private:
  Apply m_apply;
  Allocation m_before;
  Allocation m_after;
  std::vector<int> m_layers;
  bool m_wheel = false;
};

}  // namespace mola::widgets
