// SPDX-License-Identifier: GPL-3.0-or-later
// AllocationDesigner layout, undo plumbing, shape changes and the cost read-out.
#include "allocation_designer.h"

#include <QAction>
#include <QCheckBox>
#include <QComboBox>
#include <QFormLayout>
#include <QFrame>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QKeyEvent>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QPushButton>
#include <QSpinBox>
#include <QToolButton>
#include <QUndoStack>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "allocation_edit_command.h"
#include "layer_diagram.h"
#include "preset_gallery.h"
#include "theme.h"

namespace mola::widgets {

namespace {

QString qs(const std::string& s) {
  return QString::fromStdString(s);
}

QString thousands(int64_t v) {
  return QLocale(QLocale::English).toString(qlonglong(v));
}

bool sameShape(const ModelShape& a, const ModelShape& b) {
  return a.num_layers == b.num_layers && a.d_model == b.d_model && a.ffn_dim == b.ffn_dim &&
         a.num_heads == b.num_heads && a.num_kv_heads == b.num_kv_heads &&
         a.head_dim == b.head_dim && a.vocab_size == b.vocab_size &&
         a.tied_embeddings == b.tied_embeddings;
}

// "layer 3", "layers 2-4", "layers 1, 3, 7".
QString layerList(const std::vector<int>& layers) {
  if (layers.size() == 1) return QObject::tr("layer %1").arg(layers.front() + 1);
  bool contiguous = true;
  for (size_t i = 1; i < layers.size(); ++i) contiguous &= layers[i] == layers[i - 1] + 1;
  if (contiguous && layers.size() > 2)
    return QObject::tr("layers %1\u2013%2").arg(layers.front() + 1).arg(layers.back() + 1);
  QStringList names;
  for (int j : layers) names << QString::number(j + 1);
  return QObject::tr("layers %1").arg(names.join(QStringLiteral(", ")));
}

// The means of the four quarters (fewer groups for shallower models), rounded, at least 1.
std::vector<int> quarterMeans(const Allocation& a, int groups) {
  std::vector<int> means;
  const int n = a.numLayers();
  for (int g = 0; g < groups; ++g) {
    const int begin = int(int64_t{g} * n / groups);
    const int end = int(int64_t{g + 1} * n / groups);
    double sum = 0;
    for (int j = begin; j < end; ++j) sum += a.experts(j);
    means.push_back(std::max(1, int(std::lround(sum / std::max(1, end - begin)))));
  }
  return means;
}

}  // namespace

AllocationDesigner::AllocationDesigner(QWidget* parent)
    : QWidget(parent),
      m_shape(*ModelShape::named("llama2-7b")),
      m_allocation(Allocation::preset("inverted-triangle", m_shape.num_layers)) {
  m_undo = new QUndoStack(this);
  buildUi();
  showShapeInCombo();
  applyAllocation(m_allocation);
}

void AllocationDesigner::buildUi() {
  setAccessibleName(tr("Allocation designer"));
  createUndoActions();

  auto* outer = new QVBoxLayout(this);
  outer->setContentsMargins(6, 6, 6, 6);
  buildGallery();
  outer->addWidget(m_gallery);

  auto* body = new QHBoxLayout;
  outer->addLayout(body, 1);

  // Left: the diagram and its hint line.
  auto* left = new QVBoxLayout;
  auto* diagram_title = new QLabel(tr("<b>Experts per layer</b> (layer 1 at the bottom)"), this);
  diagram_title->setWordWrap(true);
  left->addWidget(diagram_title);
  m_diagram = new LayerDiagram(this);
  left->addWidget(m_diagram, 1);
  m_hint = new QLabel(this);
  m_hint->setObjectName(QStringLiteral("hint"));
  m_hint->setWordWrap(true);
  left->addWidget(m_hint);
  body->addLayout(left, 4);

  // Right: text entry, settings, read-out. Narrow (inside the experiment form) the labels go
  // above their fields.
  auto* right = new QVBoxLayout;
  body->addLayout(right, 6);
  auto* form = new QFormLayout;
  form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
  form->setRowWrapPolicy(QFormLayout::WrapLongRows);
  addEntryRows(form);
  addSettingsRows(form);
  addHistoryRow(form);
  right->addLayout(form);
  buildReadout();
  right->addWidget(m_readout);
  right->addStretch(1);

  connectUi();
  m_diagram->setTopK(m_top_k->value());
  setHint(QString(), false);
}

QLabel* AllocationDesigner::buddyLabel(const QString& text, QWidget* buddy) {
  auto* l = new QLabel(text, this);
  l->setBuddy(buddy);
  return l;
}

void AllocationDesigner::createUndoActions() {
  m_undo_action = m_undo->createUndoAction(this, tr("Undo"));
  m_undo_action->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Z));
  m_undo_action->setShortcutContext(Qt::WidgetWithChildrenShortcut);
  m_redo_action = m_undo->createRedoAction(this, tr("Redo"));
  m_redo_action->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_Z));
  m_redo_action->setShortcutContext(Qt::WidgetWithChildrenShortcut);
  addAction(m_undo_action);
  addAction(m_redo_action);
}

// The named shapes across the top.
void AllocationDesigner::buildGallery() {
  m_gallery = new PresetGallery(m_shape.num_layers, this);
  m_gallery->layout()->setContentsMargins(0, 0, 0, 0);
  for (const AllocationPreset& p : Allocation::presets()) {
    QToolButton* b = m_gallery->button(QString::fromUtf8(p.name.data(), qsizetype(p.name.size())));
    b->setMinimumSize(76, 120);
    b->setSizePolicy(QSizePolicy::Preferred, QSizePolicy::Preferred);
    if (b->layout()) b->layout()->setContentsMargins(3, 4, 3, 4);
  }
  QFont small = m_gallery->font();
  if (small.pointSizeF() > 0) small.setPointSizeF(small.pointSizeF() * 0.9);
  m_gallery->setFont(small);
}

// The per-layer text, the uniform count and the model shape.
void AllocationDesigner::addEntryRows(QFormLayout* form) {
  m_text = new QLineEdit(this);
  m_text->setObjectName(QStringLiteral("allocationText"));
  m_text->setAccessibleName(tr("Experts per layer as text"));
  m_text->setToolTip(
      tr("Per-layer list (2,2,4,...), group string (2-4-6-8), a uniform count (8) or a preset "
         "name (inverted-triangle); press Enter to apply"));
  m_text->setPlaceholderText(tr("2,2,4,... or 2-4-6-8 or 8 or a preset"));
  form->addRow(buddyLabel(tr("&Per layer:"), m_text), m_text);
  m_text_error = new QLabel(this);
  m_text_error->setObjectName(QStringLiteral("textError"));
  m_text_error->setStyleSheet(errorStyle());
  m_text_error->setWordWrap(true);
  m_text_error->hide();
  form->addRow(QString(), m_text_error);

  m_uniform = new QSpinBox(this);
  m_uniform->setObjectName(QStringLiteral("uniformExperts"));
  m_uniform->setRange(1, 16);
  m_uniform->setValue(8);
  m_uniform->setSuffix(tr(" experts"));
  m_uniform->setAccessibleName(tr("Experts per layer for the uniform allocation"));
  m_uniform_button = new QPushButton(tr("Apply uniform"), this);
  m_uniform_button->setObjectName(QStringLiteral("uniformApply"));
  m_uniform_button->setToolTip(tr("Give every layer the same number of experts"));
  auto* uniform_row = new QHBoxLayout;
  uniform_row->addWidget(m_uniform);
  uniform_row->addWidget(m_uniform_button);
  uniform_row->addStretch(1);
  form->addRow(buddyLabel(tr("&Uniform:"), m_uniform), uniform_row);

  m_shape_combo = new QComboBox(this);
  m_shape_combo->setObjectName(QStringLiteral("shape"));
  m_shape_combo->setAccessibleName(tr("Model shape"));
  for (const std::string& name : ModelShape::namedShapes()) m_shape_combo->addItem(qs(name));
  m_shape_combo->setToolTip(tr("The model the parameter counts are computed for"));
  form->addRow(buddyLabel(tr("Model &shape:"), m_shape_combo), m_shape_combo);
}

// Rank, top-K and the target modules.
void AllocationDesigner::addSettingsRows(QFormLayout* form) {
  auto* settings = new QHBoxLayout;
  m_rank = new QSpinBox(this);
  m_rank->setObjectName(QStringLiteral("rank"));
  m_rank->setRange(1, 1024);
  m_rank->setValue(8);
  m_rank->setToolTip(tr("LoRA rank r of every expert"));
  settings->addWidget(m_rank);
  settings->addSpacing(12);
  m_top_k = new QSpinBox(this);
  m_top_k->setObjectName(QStringLiteral("topK"));
  m_top_k->setRange(1, Allocation::kMaxExpertsPerLayer);
  m_top_k->setValue(2);
  m_top_k->setToolTip(tr("Experts each token is routed to; every layer needs at least K"));
  settings->addWidget(buddyLabel(tr("&Top-K"), m_top_k));
  settings->addWidget(m_top_k);
  settings->addStretch(1);
  form->addRow(buddyLabel(tr("Ra&nk r:"), m_rank), settings);

  auto* modules = new QGridLayout;
  modules->setHorizontalSpacing(10);
  modules->setVerticalSpacing(2);
  modules->setColumnStretch(3, 1);
  int i = 0;
  for (TargetModule m : kAllTargetModules) {
    const std::string_view name = targetModuleName(m);
    auto* box = new QCheckBox(QString::fromUtf8(name.data(), qsizetype(name.size())), this);
    box->setChecked(true);
    box->setToolTip(tr("Put experts on every layer's %1").arg(box->text()));
    modules->addWidget(box, i / 3, i % 3);  // three across: the designer fits 1024 px
    m_modules.push_back(box);
    ++i;
  }
  form->addRow(tr("Modules:"), modules);
}

void AllocationDesigner::addHistoryRow(QFormLayout* form) {
  // Plain buttons: the actions' own texts grow with the command ("Undo Set layers 2-4 ...").
  auto* undo_row = new QHBoxLayout;
  auto* undo_button = new QPushButton(tr("Undo"), this);
  auto* redo_button = new QPushButton(tr("Redo"), this);
  undo_button->setEnabled(false);
  redo_button->setEnabled(false);
  connect(undo_button, &QPushButton::clicked, m_undo, &QUndoStack::undo);
  connect(redo_button, &QPushButton::clicked, m_undo, &QUndoStack::redo);
  connect(m_undo, &QUndoStack::canUndoChanged, undo_button, &QPushButton::setEnabled);
  connect(m_undo, &QUndoStack::canRedoChanged, redo_button, &QPushButton::setEnabled);
  connect(m_undo, &QUndoStack::undoTextChanged, undo_button, [undo_button](const QString& t) {
    undo_button->setToolTip(t.isEmpty() ? QString() : tr("Undo: %1 (Ctrl+Z)").arg(t));
  });
  connect(m_undo, &QUndoStack::redoTextChanged, redo_button, [redo_button](const QString& t) {
    redo_button->setToolTip(t.isEmpty() ? QString() : tr("Redo: %1 (Ctrl+Shift+Z)").arg(t));
  });
  undo_row->addWidget(undo_button);
  undo_row->addWidget(redo_button);
  undo_row->addStretch(1);
  form->addRow(tr("History:"), undo_row);
}

void AllocationDesigner::buildReadout() {
  m_readout = new QLabel(this);
  m_readout->setObjectName(QStringLiteral("readout"));
  m_readout->setTextFormat(Qt::RichText);
  m_readout->setTextInteractionFlags(Qt::TextSelectableByMouse);
  m_readout->setAlignment(Qt::AlignLeft | Qt::AlignTop);
  m_readout->setWordWrap(true);
  m_readout->setFrameShape(QFrame::StyledPanel);
  m_readout->setMargin(8);
  m_readout->setAutoFillBackground(true);
  m_readout->setBackgroundRole(QPalette::Base);
  m_readout->setToolTip(
      tr("Adapter memory while training = trainable parameters \u00d7 16 bytes: fp32 weights "
         "(4 B) + gradients (4 B) + AdamW moments m and v (8 B). The frozen base model and "
         "activations come on top."));
}

void AllocationDesigner::connectUi() {
  connect(m_undo, &QUndoStack::indexChanged, this, [this] { setHint(QString(), false); });
  connect(m_diagram, &LayerDiagram::edited, this, &AllocationDesigner::onDiagramEdited);
  connect(m_diagram, &LayerDiagram::previewed, this,
          [this](const std::vector<int>& counts) { refreshReadout(Allocation(counts)); });
  connect(m_diagram, &LayerDiagram::clamped, this, &AllocationDesigner::onClamped);
  connect(m_gallery, &PresetGallery::presetChosen, this, [this](const QString& name) {
    try {
      commit(Allocation::preset(name.toStdString(), m_shape.num_layers),
             tr("Apply preset %1").arg(name));
    } catch (const std::invalid_argument& e) {
      setHint(qs(e.what()), true);
    }
  });
  connect(m_uniform_button, &QPushButton::clicked, this, [this] {
    commit(Allocation::uniform(m_uniform->value(), m_shape.num_layers),
           tr("Uniform %1 experts").arg(m_uniform->value()));
  });
  connect(m_text, &QLineEdit::returnPressed, this, &AllocationDesigner::applyText);
  m_text->installEventFilter(this);
  connect(m_text, &QLineEdit::textEdited, this, [this] { m_text_error->hide(); });
  connect(m_shape_combo, &QComboBox::activated, this, &AllocationDesigner::onShapeChosen);
  connect(m_rank, &QSpinBox::valueChanged, this, [this] {
    refreshReadout(m_allocation);
    emit settingsChanged();
  });
  connect(m_top_k, &QSpinBox::valueChanged, this, [this](int k) {
    m_diagram->setTopK(k);
    refreshReadout(m_allocation);
    emit settingsChanged();
  });
  for (QCheckBox* box : m_modules)
    connect(box, &QCheckBox::toggled, this, [this] {
      refreshReadout(m_allocation);
      emit settingsChanged();
    });
}

void AllocationDesigner::commit(const Allocation& after, const QString& text,
                                std::vector<int> layers, bool wheel) {
  if (after == m_allocation) return;
  m_undo->push(new AllocationEditCommand([this](const Allocation& a) { applyAllocation(a); },
                                         m_allocation, after, text, std::move(layers), wheel));
}

void AllocationDesigner::applyAllocation(const Allocation& allocation) {
  m_allocation = allocation;
  m_diagram->setCounts(allocation.perLayer());
  m_text->setText(qs(allocation.toList()));
  m_text_error->hide();
  refreshReadout(allocation);
  emit allocationChanged(m_allocation);
}

void AllocationDesigner::setAllocation(const Allocation& allocation) {
  if (allocation.numLayers() != m_shape.num_layers) {
    m_shape.num_layers = allocation.numLayers();
    updateGallery();
    showShapeInCombo();
    m_undo->clear();
    applyAllocation(allocation);
    emit settingsChanged();
    return;
  }
  commit(allocation, tr("Set allocation to %1").arg(qs(allocation.describe())));
}

void AllocationDesigner::setShape(const ModelShape& shape) {
  shape.validate();
  const ModelShape old = m_shape;
  m_shape = shape;
  showShapeInCombo();
  if (shape.num_layers != old.num_layers) {
    updateGallery();
    const int groups = std::min({4, m_allocation.numLayers(), shape.num_layers});
    Allocation next = Allocation::fromGroups(quarterMeans(m_allocation, groups), shape.num_layers);
    if (auto preset = m_allocation.presetName()) {
      try {
        next = Allocation::preset(*preset, shape.num_layers);
      } catch (const std::invalid_argument&) {
        // A four-group preset on fewer than four layers: the group means above stand.
      }
    }
    m_undo->clear();
    applyAllocation(next);
  } else {
    refreshReadout(m_allocation);
  }
  if (!sameShape(old, shape)) emit settingsChanged();
}

void AllocationDesigner::updateGallery() {
  // The named shapes have four groups: they need at least four layers.
  const bool fits = m_shape.num_layers >= 4;
  if (fits) m_gallery->setNumLayers(m_shape.num_layers);
  m_gallery->setEnabled(fits && m_allocation_editable);
  m_gallery->setToolTip(fits ? QString() : tr("The named shapes need at least 4 layers"));
}

void AllocationDesigner::showShapeInCombo() {
  // Named shapes first; a shape that is none of them gets one extra "custom" entry at the end.
  const int named = int(ModelShape::namedShapes().size());
  while (m_shape_combo->count() > named) m_shape_combo->removeItem(named);
  for (int i = 0; i < named; ++i) {
    if (sameShape(*ModelShape::named(m_shape_combo->itemText(i).toStdString()), m_shape)) {
      m_shape_combo->setCurrentIndex(i);
      return;
    }
  }
  m_shape_combo->addItem(
      tr("custom: %1 layers \u00d7 %2").arg(m_shape.num_layers).arg(m_shape.d_model));
  m_shape_combo->setCurrentIndex(named);
}

void AllocationDesigner::onShapeChosen(int index) {
  if (index >= int(ModelShape::namedShapes().size())) return;
  setShape(*ModelShape::named(m_shape_combo->itemText(index).toStdString()));
}

void AllocationDesigner::applyText() {
  const std::string text = m_text->text().toStdString();
  try {
    const Allocation parsed = Allocation::parse(text, m_shape.num_layers);
    m_text_error->hide();
    commit(parsed, tr("Type %1").arg(m_text->text().trimmed()));
    m_text->setText(qs(m_allocation.toList()));
  } catch (const std::invalid_argument& e) {
    m_text_error->setText(qs(e.what()));
    m_text_error->show();
  }
}

void AllocationDesigner::onDiagramEdited(const std::vector<int>&, const std::vector<int>& after,
                                         const std::vector<int>& layers, bool wheel) {
  const Allocation next(after);
  QString what;
  const int value = layers.empty() ? 0 : after[size_t(layers.front())];
  bool same_value = true;
  for (int j : layers) same_value &= after[size_t(j)] == value;
  if (same_value)
    what = (value == 1 ? tr("Set %1 to 1 expert") : tr("Set %1 to %2 experts").arg(value))
               .arg(layerList(layers));
  else
    what = tr("Change %1").arg(layerList(layers));
  commit(next, what, layers, wheel);
}

void AllocationDesigner::onClamped(int minimum) {
  setHint(tr("Held at %1 experts: top-K is %1, so every layer needs at least %1 (a single "
             "expert, plain LoRA, needs top-K 1).")
              .arg(minimum),
          true);
}

void AllocationDesigner::setHint(const QString& text, bool warning) {
  if (text.isEmpty()) {
    m_hint->setText(
        tr("Drag rows to set experts \u00b7 wheel \u00b11 \u00b7 Shift/Ctrl-click selects "
           "\u00b7 keys \u2191\u2193 \u2190\u2192 and digits"));
    setDimText(m_hint);
    return;
  }
  m_hint->setText(text);
  m_hint->setForegroundRole(QPalette::WindowText);
  m_hint->setStyleSheet(warning ? warningStyle() : QString());
}

void AllocationDesigner::setTopK(int top_k) {
  m_top_k->setValue(top_k);
}
int AllocationDesigner::topK() const {
  return m_top_k->value();
}
void AllocationDesigner::setRank(int rank) {
  m_rank->setValue(rank);
}
int AllocationDesigner::rank() const {
  return m_rank->value();
}

void AllocationDesigner::setTargetModules(const std::vector<TargetModule>& modules) {
  int i = 0;
  for (TargetModule m : kAllTargetModules) {
    QCheckBox* box = m_modules[size_t(i++)];
    const bool on = std::find(modules.begin(), modules.end(), m) != modules.end();
    if (box->isChecked() != on) box->setChecked(on);
  }
}

std::vector<TargetModule> AllocationDesigner::targetModules() const {
  std::vector<TargetModule> out;
  int i = 0;
  for (TargetModule m : kAllTargetModules)
    if (m_modules[size_t(i++)]->isChecked()) out.push_back(m);
  return out;
}

void AllocationDesigner::setMaxExperts(int experts) {
  m_diagram->setMaxExperts(experts);
  m_uniform->setMaximum(std::max(1, experts));
}

int AllocationDesigner::maxExperts() const {
  return m_diagram->maxExperts();
}

void AllocationDesigner::setAllocationEditable(bool editable) {
  m_allocation_editable = editable;
  for (QWidget* w :
       std::initializer_list<QWidget*>{m_diagram, m_uniform, m_uniform_button, m_text, m_top_k})
    w->setEnabled(editable);
  updateGallery();
}

void AllocationDesigner::setTaskGating(int tasks, int task_dim) {
  m_tasks = std::max(0, tasks);
  m_task_dim = task_dim;
  m_top_k->setEnabled(m_allocation_editable && m_tasks == 0);
  refreshReadout(m_allocation);
}

ParameterCount AllocationDesigner::countFor(const Allocation& shown) const {
  if (m_tasks > 0)
    return countMoeLoraParameters(shown, m_shape, rank(), targetModules(), m_tasks, m_task_dim);
  return countTrainableParameters(shown, m_shape, rank(), targetModules());
}

ParameterCount AllocationDesigner::trainableParameters() const {
  return countFor(m_allocation);
}

QString AllocationDesigner::readoutText() const {
  return m_readout->text();
}

QRectF AllocationDesigner::rowRect(int layer) const {
  return m_diagram->rowRect(layer);
}

namespace {

QString readoutRow(const QString& name, const QString& value) {
  return QStringLiteral("<tr><td style='padding-right:12px'>%1</td><td>%2</td></tr>")
      .arg(name, value);
}

// A preset's name with the paper's, a short description, or "custom" for a long per-layer list
// (the text field shows it already).
QString allocationLabel(const Allocation& shown) {
  const std::string d = shown.describe();
  for (const AllocationPreset& p : Allocation::presets())
    if (d == p.name)
      return qs(d) + QStringLiteral(" (") +
             QString::fromUtf8(p.paper_name.data(), qsizetype(p.paper_name.size())) + ')';
  return d.size() > 36 ? AllocationDesigner::tr("custom") : qs(d);
}

// "layer 3" or "layers 1, 2, 3, 4" (1-based), every layer named.
QString layersNamed(const std::vector<int>& layers) {
  QStringList names;
  for (int j : layers) names << QString::number(j + 1);
  return (layers.size() == 1 ? AllocationDesigner::tr("layer %1")
                             : AllocationDesigner::tr("layers %1"))
      .arg(names.join(QStringLiteral(", ")));
}

}  // namespace

void AllocationDesigner::refreshReadout(const Allocation& shown) {
  const std::vector<TargetModule> modules = targetModules();
  const int k = topK();
  // Layers that do not fit: fewer experts than top-K (MoLA), or a rank they cannot share (MOELoRA).
  std::vector<int> short_layers;
  for (int j = 0; j < shown.numLayers(); ++j)
    if (m_tasks > 0 ? rank() % shown.experts(j) != 0 : shown.experts(j) < k)
      short_layers.push_back(j);

  QString rows = readoutRow(tr("Allocation"), QStringLiteral("<b>%1</b> over %2 layers")
                                                  .arg(allocationLabel(shown).toHtmlEscaped())
                                                  .arg(shown.numLayers()));
  rows += readoutRow(
      tr("Experts"),
      tr("<b>%1</b> per module type (%2 over %3), %4 to %5 per layer")
          .arg(thousands(shown.totalExperts()))
          .arg(thousands(shown.totalExperts() * int64_t(modules.size())))
          .arg(modules.size() == 1 ? tr("1 module") : tr("%1 modules").arg(modules.size()))
          .arg(shown.minExperts())
          .arg(shown.maxExperts()));
  rows += parameterRows(shown, modules);
  rows += readoutRow(m_tasks > 0 ? tr("Gate") : tr("Top-K"), fitText(shown, short_layers));
  m_readout->setText(QStringLiteral("<table cellspacing='3'>%1</table>").arg(rows));

  // Validity follows the committed allocation, not a drag in progress.
  if (&shown == &m_allocation || shown == m_allocation) {
    const bool valid = short_layers.empty() && !modules.empty();
    if (valid != m_valid) {
      m_valid = valid;
      emit validityChanged(valid);
    }
  }
}

// Trainable parameters, their share of the base, the memory to train them and the plain-LoRA
// rank with the same budget.
QString AllocationDesigner::parameterRows(const Allocation& shown,
                                          const std::vector<TargetModule>& modules) const {
  if (modules.empty())
    return readoutRow(tr("Parameters"),
                      QStringLiteral("<span style='%1'>%2</span>")
                          .arg(errorStyle(), tr("choose at least one target module")));
  const ParameterCount count = countFor(shown);
  const int64_t base = countBaseParameters(m_shape);
  QString rows = readoutRow(tr("Parameters"),
                            (m_tasks > 0 ? tr("<b>%1</b> trainable (experts %2 + task gates %3)")
                                         : tr("<b>%1</b> trainable (experts %2 + routers %3)"))
                                .arg(thousands(count.total()))
                                .arg(thousands(count.lora))
                                .arg(thousands(count.router)));
  rows += readoutRow(tr("Share of base"),
                     tr("<b>%1%</b> of the %2 base parameters")
                         .arg(100.0 * double(count.total()) / double(base), 0, 'f', 3)
                         .arg(thousands(base)));
  const double mib = double(count.total()) * 16.0 / (1 << 20);
  rows += readoutRow(tr("Memory"),
                     tr("<b>%1 MiB</b> to train (16 B per parameter)").arg(mib, 0, 'f', 1));
  // A plain LoRA layer costs r * (d_in + d_out) per module; find the rank closest in budget.
  const int64_t per_rank =
      countTrainableParameters(Allocation::uniform(1, m_shape.num_layers), m_shape, 1, modules)
          .total();
  const int64_t r_eq = std::max<int64_t>(1, std::llround(double(count.total()) / double(per_rank)));
  const int64_t diff = count.total() - r_eq * per_rank;
  rows += readoutRow(tr("Plain LoRA"),
                     tr("same budget at r<sub>eq</sub> = <b>%1</b>: %2 parameters (this: %3%4)")
                         .arg(r_eq)
                         .arg(thousands(r_eq * per_rank))
                         .arg(diff >= 0 ? QStringLiteral("+") : QStringLiteral("\u2212"))
                         .arg(thousands(std::abs(diff))));
  return rows;
}

// Whether every layer fits top-K (MoLA) or shares the rank among its experts (MOELoRA).
QString AllocationDesigner::fitText(const Allocation& shown,
                                    const std::vector<int>& short_layers) const {
  const auto error = [](const QString& text) {
    return QStringLiteral("<span style='%1'><b>%2</b></span>").arg(errorStyle(), text);
  };
  if (m_tasks > 0)
    return short_layers.empty()
               ? tr("dense task gate (MOELoRA): every expert, rank %1 / N").arg(rank())
               : error(tr("rank %1 cannot be shared among the experts of %2")
                           .arg(rank())
                           .arg(layersNamed(short_layers)));
  const int k = topK();
  if (short_layers.empty())
    return tr("top-K %1 fits every layer (smallest layer has %2)").arg(k).arg(shown.minExperts());
  return error(
      tr("top-K %1 needs at least %1 experts in %2").arg(k).arg(layersNamed(short_layers)));
}

// In the per-layer text field, Ctrl+Z and Ctrl+Shift+Z undo and redo the allocation unless
// the field has typing of its own to undo (text not yet applied with Enter).
bool AllocationDesigner::eventFilter(QObject* watched, QEvent* event) {
  if (watched == m_text && event->type() == QEvent::ShortcutOverride) {
    auto* key = static_cast<QKeyEvent*>(event);
    const bool undo = key->matches(QKeySequence::Undo) && !m_text->isUndoAvailable();
    const bool redo = key->matches(QKeySequence::Redo) && !m_text->isRedoAvailable();
    if (undo || redo) {
      event->ignore();  // not the field's: the shortcut goes to the undo/redo actions
      return true;
    }
  }
  return QWidget::eventFilter(watched, event);
}

}  // namespace mola::widgets
