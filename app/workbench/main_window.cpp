// SPDX-License-Identifier: GPL-3.0-or-later
// MainWindow layout and the parameter read-out of the chosen preset.
#include "main_window.h"

#include <QComboBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLocale>
#include <QStatusBar>
#include <QVBoxLayout>

#include "adapters/allocation.h"
#include "allocation_silhouette.h"
#include "model/model_shape.h"
#include "preset_gallery.h"

namespace mola::app {

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
  setWindowTitle(tr("MoLA Workbench"));
  auto* central = new QWidget(this);
  auto* layout = new QVBoxLayout(central);

  auto* title = new QLabel(tr("<h2>Allocations</h2>How many LoRA experts each layer gets "
                              "(layer 1 at the bottom). Choose a shape:"),
                           central);
  layout->addWidget(title);

  auto* form = new QFormLayout;
  m_shape = new QComboBox(central);
  for (const std::string& name : ModelShape::namedShapes())
    m_shape->addItem(QString::fromStdString(name));
  form->addRow(tr("Model shape"), m_shape);
  layout->addLayout(form);

  m_gallery = new widgets::PresetGallery(ModelShape::named("llama2-7b")->num_layers, central);
  layout->addWidget(m_gallery);

  auto* detail = new QHBoxLayout;
  m_chosen = new widgets::AllocationSilhouette(central);
  m_chosen->setMinimumSize(160, 200);
  detail->addWidget(m_chosen);
  m_readout = new QLabel(central);
  m_readout->setObjectName(QStringLiteral("readout"));
  m_readout->setTextInteractionFlags(Qt::TextSelectableByMouse);
  m_readout->setAlignment(Qt::AlignLeft | Qt::AlignTop);
  detail->addWidget(m_readout, 1);
  layout->addLayout(detail, 1);
  setCentralWidget(central);
  statusBar()->showMessage(
      tr("Training, live router plots and run comparison arrive in the next "
         "releases; `mola alloc` prints the same read-out."));

  connect(m_gallery, &widgets::PresetGallery::presetChosen, this, &MainWindow::choosePreset);
  connect(m_shape, &QComboBox::currentTextChanged, this, &MainWindow::refresh);
  refresh();
}

void MainWindow::choosePreset(const QString& preset) {
  m_preset = preset;
  refresh();
}

QString MainWindow::readout() const {
  return m_readout->text();
}

void MainWindow::refresh() {
  const ModelShape shape = *ModelShape::named(m_shape->currentText().toStdString());
  m_gallery->setNumLayers(shape.num_layers);
  const Allocation alloc = Allocation::preset(m_preset.toStdString(), shape.num_layers);
  m_chosen->setAllocation(alloc);
  const auto modules = parseTargetModules("all");
  const ParameterCount count = countTrainableParameters(alloc, shape, 8, modules);
  const int64_t base = countBaseParameters(shape);
  const QLocale locale(QLocale::English);
  m_readout->setText(
      tr("<b>%1</b> on %2 (%3 layers)<br>experts per layer: %4<br>experts per module type: %5"
         "<br>trainable parameters (r=8, all 7 modules, routers included): <b>%6</b>"
         "<br>share of the base model: %7%")
          .arg(m_preset, m_shape->currentText())
          .arg(shape.num_layers)
          .arg(QString::fromStdString(alloc.toList()))
          .arg(alloc.totalExperts())
          .arg(locale.toString(qlonglong(count.total())))
          .arg(100.0 * double(count.total()) / double(base), 0, 'f', 2));
}

}  // namespace mola::app
