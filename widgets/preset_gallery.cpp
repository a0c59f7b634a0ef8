// SPDX-License-Identifier: GPL-3.0-or-later
// PresetGallery layout: a button per preset with its silhouette, shape name and the paper's label.
#include "preset_gallery.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QToolButton>
#include <QVBoxLayout>

#include "allocation_silhouette.h"

namespace mola::widgets {

PresetGallery::PresetGallery(int num_layers, QWidget* parent) : QWidget(parent) {
  auto* row = new QHBoxLayout(this);
  for (const AllocationPreset& p : Allocation::presets()) {
    const QString name = QString::fromUtf8(p.name.data(), qsizetype(p.name.size()));
    auto* button = new QToolButton(this);
    button->setObjectName(name);
    button->setCheckable(false);
    button->setAutoRaise(true);
    button->setToolTip(QString::fromUtf8(p.description.data(), qsizetype(p.description.size())));
    auto* inner = new QVBoxLayout(button);
    auto* silhouette = new AllocationSilhouette(button);
    silhouette->setScaleMax(8);
    silhouette->setAttribute(Qt::WA_TransparentForMouseEvents);
    const QString groups = QStringLiteral("%1-%2-%3-%4")
                               .arg(p.groups[0])
                               .arg(p.groups[1])
                               .arg(p.groups[2])
                               .arg(p.groups[3]);
    const QString paper = QString::fromUtf8(p.paper_name.data(), qsizetype(p.paper_name.size()));
    auto* label = new QLabel(QStringLiteral("%1\n%2\n%3").arg(name, paper, groups), button);
    label->setAlignment(Qt::AlignCenter);
    label->setWordWrap(true);  // a narrow button breaks "inverted-triangle" after the hyphen
    label->setAttribute(Qt::WA_TransparentForMouseEvents);
    inner->addWidget(silhouette, 1);
    inner->addWidget(label);
    button->setMinimumSize(130, 170);
    connect(button, &QToolButton::clicked, this, [this, name] { emit presetChosen(name); });
    row->addWidget(button);
    m_entries.push_back({name, button, silhouette});
  }
  setNumLayers(num_layers);
}

void PresetGallery::setNumLayers(int num_layers) {
  m_num_layers = num_layers;
  for (Entry& e : m_entries)
    e.silhouette->setAllocation(Allocation::preset(e.name.toStdString(), num_layers));
}

QToolButton* PresetGallery::button(const QString& preset) const {
  for (const Entry& e : m_entries)
    if (e.name == preset) return e.button;
  return nullptr;
}

}  // namespace mola::widgets
