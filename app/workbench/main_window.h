// SPDX-License-Identifier: GPL-3.0-or-later
// MainWindow: the workbench's first view, the named allocations and what they cost on a model
// shape.
#pragma once

#include <QMainWindow>

class QComboBox;
class QLabel;

namespace mola::widgets {
class AllocationSilhouette;
class PresetGallery;
}  // namespace mola::widgets

namespace mola::app {

class MainWindow : public QMainWindow {
  Q_OBJECT

 public:
  explicit MainWindow(QWidget* parent = nullptr);

  // Shows `preset` on the current shape: its silhouette and its parameter read-out.
  void choosePreset(const QString& preset);
  QString readout() const;

 private:
  void refresh();

  QComboBox* m_shape = nullptr;
  widgets::PresetGallery* m_gallery = nullptr;
  widgets::AllocationSilhouette* m_chosen = nullptr;
  QLabel* m_readout = nullptr;
  QString m_preset = QStringLiteral("inverted-triangle");
};

}  // namespace mola::app
