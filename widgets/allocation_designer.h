// SPDX-License-Identifier: GPL-3.0-or-later
// AllocationDesigner: draws, types or picks how many LoRA experts each layer gets, with undo and a
// live read-out of what the allocation costs (torch-free).
#pragma once

#include <QWidget>
#include <vector>

#include "adapters/allocation.h"
#include "model/model_shape.h"

class QAction;
class QCheckBox;
class QComboBox;
class QFormLayout;
class QLabel;
class QLineEdit;
class QPushButton;
class QSpinBox;
class QUndoStack;

namespace mola::widgets {

class LayerDiagram;
class PresetGallery;

class AllocationDesigner : public QWidget {
  Q_OBJECT

 public:
  // Starts on llama2-7b with the inverted triangle, r = 8, top-K 2, all seven modules.
  explicit AllocationDesigner(QWidget* parent = nullptr);

  // An undoable change. An allocation of another depth than the shape's changes the shape's
  // number of layers (and clears the undo history, whose entries have the old depth).
  void setAllocation(const Allocation& allocation);
  const Allocation& allocation() const { return m_allocation; }

  // Throws std::invalid_argument for an inconsistent shape. A new depth re-applies the preset
  // when the allocation is one, else re-derives it from the means of its four quarters; it clears
  // the undo history.
  void setShape(const ModelShape& shape);
  const ModelShape& shape() const { return m_shape; }

  void setTopK(int top_k);
  int topK() const;
  void setRank(int rank);
  int rank() const;
  // Empty is allowed here and reported in the read-out as invalid.
  void setTargetModules(const std::vector<TargetModule>& modules);
  std::vector<TargetModule> targetModules() const;
  // The most experts a drag, wheel or key gives a layer (default 16).
  void setMaxExperts(int experts);
  int maxExperts() const;

  // Off: the experts per layer and top-K are shown but cannot be edited (plain LoRA uses
  // neither); rank and modules stay editable.
  void setAllocationEditable(bool editable);
  // MOELoRA (tasks > 0): the experts share the rank (r / N_j each, r a multiple of every N_j) and
  // a dense gate per layer reads a task embedding of width task_dim: the read-out counts that and
  // top-K is unused. 0 tasks: MoLA's routed experts.
  void setTaskGating(int tasks, int task_dim);
  // Top-K fits every layer and at least one module is targeted.
  bool isValid() const { return m_valid; }
  // The trainable parameters the read-out shows.
  ParameterCount trainableParameters() const;
  ParameterCount countFor(const Allocation& shown) const;
  QString readoutText() const;

  QUndoStack* undoStack() const { return m_undo; }
  QAction* undoAction() const { return m_undo_action; }
  QAction* redoAction() const { return m_redo_action; }

  // For tests: the diagram, and layer j's track in the diagram's coordinates (see
  // LayerDiagram::rowRect: from the left edge of expert 1 to the right edge of the last slot).
  LayerDiagram* diagram() const { return m_diagram; }
  QRectF rowRect(int layer) const;

 signals:
  void allocationChanged(const mola::Allocation& allocation);
  void validityChanged(bool valid);
  // Rank, top-K, target modules or shape changed.
  void settingsChanged();

 protected:
  bool eventFilter(QObject* watched, QEvent* event) override;

 private:
  void buildUi();
  QLabel* buddyLabel(const QString& text, QWidget* buddy);
  void createUndoActions();
  void buildGallery();
  void addEntryRows(QFormLayout* form);
  void addSettingsRows(QFormLayout* form);
  void addHistoryRow(QFormLayout* form);
  void buildReadout();
  void connectUi();
  // Pushes one undo command (nothing when `after` equals the current allocation).
  void commit(const Allocation& after, const QString& text, std::vector<int> layers = {},
              bool wheel = false);
  // What undo/redo and commit end in: the one place the allocation changes.
  void applyAllocation(const Allocation& allocation);
  void applyText();
  void showShapeInCombo();
  void updateGallery();
  void onShapeChosen(int index);
  void onDiagramEdited(const std::vector<int>& before, const std::vector<int>& after,
                       const std::vector<int>& layers, bool wheel);
  void onClamped(int minimum);
  void refreshReadout(const Allocation& shown);
  QString parameterRows(const Allocation& shown, const std::vector<TargetModule>& modules) const;
  QString fitText(const Allocation& shown, const std::vector<int>& short_layers) const;
  void setHint(const QString& text, bool warning);

  ModelShape m_shape;
  Allocation m_allocation;
  bool m_valid = true;
  bool m_allocation_editable = true;
  int m_tasks = 0, m_task_dim = 0;  // setTaskGating

  QUndoStack* m_undo = nullptr;
  QAction* m_undo_action = nullptr;
  QAction* m_redo_action = nullptr;
  LayerDiagram* m_diagram = nullptr;
  QLabel* m_hint = nullptr;
  PresetGallery* m_gallery = nullptr;
  QSpinBox* m_uniform = nullptr;
  QPushButton* m_uniform_button = nullptr;
  QLineEdit* m_text = nullptr;
  QLabel* m_text_error = nullptr;
  QComboBox* m_shape_combo = nullptr;
  QSpinBox* m_rank = nullptr;
  QSpinBox* m_top_k = nullptr;
  std::vector<QCheckBox*> m_modules;
  QLabel* m_readout = nullptr;
};

}  // namespace mola::widgets
