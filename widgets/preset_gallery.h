// SPDX-License-Identifier: GPL-3.0-or-later
// PresetGallery: the named allocation shapes as clickable silhouettes with their names
// (torch-free).
#pragma once

#include <QWidget>
#include <vector>

#include "adapters/allocation.h"

class QToolButton;

namespace mola::widgets {

class AllocationSilhouette;

class PresetGallery : public QWidget {
  Q_OBJECT

 public:
  explicit PresetGallery(int num_layers, QWidget* parent = nullptr);

  void setNumLayers(int num_layers);
  int numLayers() const { return m_num_layers; }
  QToolButton* button(const QString& preset) const;

 signals:
  // name is the preset's name, e.g. "inverted-triangle".
  void presetChosen(const QString& name);

 private:
  struct Entry {
    QString name;
    QToolButton* button;
    AllocationSilhouette* silhouette;
  };
  int m_num_layers = 0;
  std::vector<Entry> m_entries;
};

}  // namespace mola::widgets
