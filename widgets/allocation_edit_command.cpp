// SPDX-License-Identifier: GPL-3.0-or-later
// AllocationEditCommand: applies the before/after allocation and merges wheel steps.
#include "allocation_edit_command.h"

#include <utility>

namespace mola::widgets {

AllocationEditCommand::AllocationEditCommand(Apply apply, Allocation before, Allocation after,
                                             const QString& text, std::vector<int> layers,
                                             bool wheel)
    : m_apply(std::move(apply)),
      m_before(std::move(before)),
      m_after(std::move(after)),
      m_layers(std::move(layers)),
      m_wheel(wheel) {
  setText(text);
}

void AllocationEditCommand::undo() {
  m_apply(m_before);
}

void AllocationEditCommand::redo() {
  m_apply(m_after);
}

bool AllocationEditCommand::mergeWith(const QUndoCommand* other) {
  const auto* next = dynamic_cast<const AllocationEditCommand*>(other);
  if (!next || !m_wheel || !next->m_wheel || next->m_layers != m_layers ||
      next->m_before != m_after)
    return false;
  m_after = next->m_after;
  setText(next->text());
  // Scrolling back to where it started leaves nothing to undo.
  setObsolete(m_after == m_before);
  return true;
}

}  // namespace mola::widgets
