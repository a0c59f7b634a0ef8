// SPDX-License-Identifier: GPL-3.0-or-later
#include "routing_dialog.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QShortcut>
#include <QSplitter>
#include <QVBoxLayout>

#include "theme.h"
#include "token_routing_map.h"

namespace mola::widgets {

RoutingDialog::RoutingDialog(QWidget* parent)
    : QDialog(parent),
      m_text(new QPlainTextEdit(this)),
      m_trace(new QPushButton(tr("&Trace"), this)),
      m_module(new QComboBox(this)),
      m_layer_box(new QComboBox(this)),
      m_quantity(new QComboBox(this)),
      m_status(new QLabel(this)),
      m_layers(new TokenRoutingMap(this)),
      m_layer(new TokenRoutingMap(this)) {
  setObjectName(QStringLiteral("routingDialog"));
  setWindowTitle(tr("Token routing"));
  m_text->setObjectName(QStringLiteral("routingText"));
  m_text->setAccessibleName(tr("Text to route"));
  m_text->setPlaceholderText(
      tr("A text to send through the run's model, e.g. one of its questions (Ctrl+Enter traces)"));
  m_text->setTabChangesFocus(true);
  m_text->setFixedHeight(4 * m_text->fontMetrics().lineSpacing() + 12);
  m_trace->setToolTip(
      tr("Run the text through the run's newest checkpoint and show which experts each token "
         "goes to (`mola route`)"));
  m_trace->setDefault(true);
  auto* text_row = new QHBoxLayout;
  text_row->addWidget(new QLabel(tr("Te&xt:"), this));
  static_cast<QLabel*>(text_row->itemAt(0)->widget())->setBuddy(m_text);
  text_row->addWidget(m_text, 1);
  text_row->addWidget(m_trace);

  m_module->setToolTip(tr("Pool the gates of every routed module of a layer, or show one"));
  m_quantity->addItem(tr("gate"), int(RoutingQuantity::Gate));
  m_quantity->addItem(tr("router probability"), int(RoutingQuantity::Probability));
  m_quantity->addItem(tr("share of top-K choices"), int(RoutingQuantity::Selection));
  m_quantity->setToolTip(tr("What the layer map shows per token and expert"));
  for (QComboBox* box : {m_module, m_layer_box, m_quantity})
    box->setSizeAdjustPolicy(QComboBox::AdjustToContents);
  m_layer_box->setToolTip(tr("The layer shown below; a click on a row above chooses it too"));
  auto* choice_row = new QHBoxLayout;
  auto add = [&](const QString& label, QComboBox* box) {
    auto* l = new QLabel(label, this);
    l->setBuddy(box);
    choice_row->addWidget(l);
    choice_row->addWidget(box);
    choice_row->addSpacing(8);
  };
  add(tr("&Modules:"), m_module);
  add(tr("&Layer:"), m_layer_box);
  add(tr("&Show:"), m_quantity);
  choice_row->addStretch(1);

  auto* maps = new QSplitter(Qt::Vertical, this);
  maps->addWidget(m_layers);
  maps->addWidget(m_layer);
  maps->setStretchFactor(0, 1);
  maps->setStretchFactor(1, 1);
  m_status->setWordWrap(true);
  m_status->setTextInteractionFlags(Qt::TextSelectableByMouse);

  auto* layout = new QVBoxLayout(this);
  layout->addLayout(text_row);
  layout->addLayout(choice_row);
  layout->addWidget(maps, 1);
  layout->addWidget(m_status);
  resize(960, 640);

  connect(m_trace, &QPushButton::clicked, this, &RoutingDialog::requestTrace);
  for (const QKeySequence& keys :
       {QKeySequence(Qt::CTRL | Qt::Key_Return), QKeySequence(Qt::CTRL | Qt::Key_Enter)})
    connect(new QShortcut(keys, this), &QShortcut::activated, this, &RoutingDialog::requestTrace);
  for (QComboBox* box : {m_module, m_layer_box, m_quantity})
    connect(box, &QComboBox::currentIndexChanged, this, &RoutingDialog::redraw);
  connect(m_layers, &TokenRoutingMap::layerClicked, this, [this](int layer) {
    const int i = m_layer_box->findData(layer);
    if (i >= 0) m_layer_box->setCurrentIndex(i);
  });
  setRun(-1, QString(), QString());
}

void RoutingDialog::setRun(qint64 id, const QString& name, const QString& text) {
  m_run = id;
  m_routing = TokenRouting{};
  setWindowTitle(id < 0 ? tr("Token routing") : tr("Token routing: %1").arg(name));
  m_text->setPlainText(text);
  fillChoices();
  m_layers->clearMap(tr("Type a text and press Trace"));
  m_layer->clearMap(tr("the layer chosen above, expert by expert"));
  m_status->setText(
      tr("Each token goes to the top-K experts of every routed module; the map "
         "shows the expert with the largest gate, pooled over the modules."));
  setBusy(false);
}

QString RoutingDialog::text() const {
  return m_text->toPlainText();
}

QString RoutingDialog::status() const {
  return m_status->text();
}

void RoutingDialog::requestTrace() {
  if (m_run < 0 || text().trimmed().isEmpty() || !m_trace->isEnabled()) return;
  setBusy(true);
  m_status->setText(tr("Tracing: loading the run's model and its newest checkpoint..."));
  emit traceRequested(m_run, text());
}

void RoutingDialog::setBusy(bool busy) {
  m_trace->setEnabled(!busy);
  m_text->setReadOnly(busy);
}

void RoutingDialog::showRouting(const TokenRouting& routing) {
  m_routing = routing;
  setBusy(false);
  fillChoices();
  redraw();
  m_status->setStyleSheet(QString());
  m_status->setText(tr("%1 tokens through %2 routing layers. Hover a cell for every expert's "
                       "gate; click a row to see its layer below.")
                        .arg(routing.tokens.size())
                        .arg(routing.layers.size()));
}

void RoutingDialog::showFailure(const QString& why) {
  setBusy(false);
  m_status->setStyleSheet(errorStyle());
  m_status->setText(tr("Not traced: %1").arg(why));
}

// The module names and layers of the routing; the choices made stay where they still exist.
void RoutingDialog::fillChoices() {
  const QString module = m_module->currentData().toString();
  const QVariant layer = m_layer_box->currentData();
  const QSignalBlocker block_module(m_module), block_layer(m_layer_box);
  m_module->clear();
  m_module->addItem(tr("all (mean)"), QString());
  if (!m_routing.layers.empty())
    for (const ModuleTokenRouting& m : m_routing.layers.front().modules)
      m_module->addItem(QString::fromStdString(m.module), QString::fromStdString(m.module));
  m_module->setCurrentIndex(std::max(0, m_module->findData(module)));
  m_layer_box->clear();
  for (const LayerTokenRouting& l : m_routing.layers)
    m_layer_box->addItem(tr("%1 (%2 experts)").arg(l.layer + 1).arg(l.experts), l.layer);
  // The top layer first: MoLA gives it the most experts.
  const int i = layer.isValid() ? m_layer_box->findData(layer) : -1;
  m_layer_box->setCurrentIndex(i >= 0 ? i : m_layer_box->count() - 1);
}

std::string RoutingDialog::chosenModule() const {
  return m_module->currentData().toString().toStdString();
}

void RoutingDialog::redraw() {
  if (m_routing.layers.empty()) return;
  m_layers->showLayers(m_routing, chosenModule());
  m_layer->showLayer(m_routing, m_layer_box->currentData().toInt(),
                     RoutingQuantity(m_quantity->currentData().toInt()), chosenModule());
}

}  // namespace mola::widgets
