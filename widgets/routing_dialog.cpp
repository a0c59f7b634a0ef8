// SPDX-License-Identifier: GPL-3.0-or-later
#include "routing_dialog.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QScreen>
#include <QShortcut>
#include <QSplitter>
#include <QVBoxLayout>
#include <algorithm>
#include <map>

#include "plot_export.h"
#include "theme.h"
#include "token_routing_map.h"

namespace mola::widgets {

namespace {

constexpr int kTwoColumnWidth = 1280;

}  // namespace

RoutingDialog::RoutingDialog(QWidget* parent)
    : QDialog(parent),
      m_text(new QPlainTextEdit(this)),
      m_trace(new QPushButton(tr("&Trace"), this)),
      m_compare(new QComboBox(this)),
      m_module(new QComboBox(this)),
      m_layer_box(new QComboBox(this)),
      m_quantity(new QComboBox(this)),
      m_status(new QLabel(this)) {
  setObjectName(QStringLiteral("routingDialog"));
  m_text->setObjectName(QStringLiteral("routingText"));
  m_text->setAccessibleName(tr("Text to route"));
  m_text->setPlaceholderText(
      tr("A text to send through the run's model, e.g. one of its questions (Ctrl+Enter traces)"));
  m_text->setTabChangesFocus(true);
  m_text->setFixedHeight(4 * m_text->fontMetrics().lineSpacing() + 12);
  m_trace->setToolTip(
      tr("Run the text through each run's newest checkpoint and show which experts each token "
         "goes to (`mola route`)"));
  m_trace->setDefault(true);
  auto* text_row = new QHBoxLayout;
  text_row->addWidget(new QLabel(tr("Te&xt:"), this));
  static_cast<QLabel*>(text_row->itemAt(0)->widget())->setBuddy(m_text);
  text_row->addWidget(m_text, 1);
  text_row->addWidget(m_trace);

  auto* maps = new QSplitter(Qt::Horizontal, this);
  for (Column& c : m_columns) maps->addWidget(buildColumn(c));
  m_status->setWordWrap(true);
  m_status->setTextInteractionFlags(Qt::TextSelectableByMouse);

  auto* layout = new QVBoxLayout(this);
  layout->addLayout(text_row);
  layout->addLayout(buildChoiceRow());
  layout->addWidget(maps, 1);
  layout->addWidget(m_status);
  resize(960, 640);

  connect(m_trace, &QPushButton::clicked, this, qOverload<>(&RoutingDialog::requestTrace));
  for (const QKeySequence& keys :
       {QKeySequence(Qt::CTRL | Qt::Key_Return), QKeySequence(Qt::CTRL | Qt::Key_Enter)})
    connect(new QShortcut(keys, this), &QShortcut::activated, this,
            qOverload<>(&RoutingDialog::requestTrace));
  for (QComboBox* box : {m_module, m_layer_box, m_quantity})
    connect(box, &QComboBox::currentIndexChanged, this, &RoutingDialog::redraw);
  connect(m_compare, &QComboBox::currentIndexChanged, this, &RoutingDialog::onCompareChosen);
  setRun(-1, QString(), QString());
}

QWidget* RoutingDialog::buildColumn(Column& column) {
  column.box = new QWidget(this);
  column.header = new QLabel(column.box);
  column.header->setTextFormat(Qt::RichText);
  column.layers = new TokenRoutingMap(column.box);
  column.layer = new TokenRoutingMap(column.box);
  auto* maps = new QSplitter(Qt::Vertical, column.box);
  maps->addWidget(column.layers);
  maps->addWidget(column.layer);
  maps->setStretchFactor(0, 1);
  maps->setStretchFactor(1, 1);
  auto* layout = new QVBoxLayout(column.box);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(column.header);
  layout->addWidget(maps, 1);
  connect(column.layers, &TokenRoutingMap::layerClicked, this, [this](int layer) {
    const int i = m_layer_box->findData(layer);
    if (i >= 0) m_layer_box->setCurrentIndex(i);
  });
  return column.box;
}

QLayout* RoutingDialog::buildChoiceRow() {
  m_compare->setToolTip(
      tr("Trace the same text through a second run and show its maps beside the first "
         "(another model is loaded for it)"));
  m_module->setToolTip(tr("Pool the gates of every routed module of a layer, or show one"));
  m_quantity->addItem(tr("gate"), int(RoutingQuantity::Gate));
  m_quantity->addItem(tr("router probability"), int(RoutingQuantity::Probability));
  m_quantity->addItem(tr("share of top-K choices"), int(RoutingQuantity::Selection));
  m_quantity->setToolTip(tr("What the layer maps show per token and expert"));
  m_layer_box->setToolTip(tr("The layer shown below; a click on a row above chooses it too"));
  for (QComboBox* box : {m_compare, m_module, m_layer_box, m_quantity})
    box->setSizeAdjustPolicy(QComboBox::AdjustToContents);
  auto* row = new QHBoxLayout;
  auto add = [&](const QString& label, QComboBox* box) {
    auto* l = new QLabel(label, this);
    l->setBuddy(box);
    row->addWidget(l);
    row->addWidget(box);
    row->addSpacing(8);
  };
  add(tr("&Compare with:"), m_compare);
  add(tr("&Modules:"), m_module);
  add(tr("&Layer:"), m_layer_box);
  add(tr("&Show:"), m_quantity);
  row->addStretch(1);
  return row;
}

void RoutingDialog::setRun(qint64 id, const QString& name, const QString& text) {
  m_columns[0].id = id;
  m_columns[0].name = name;
  m_text->setPlainText(text);
  clearColumn(m_columns[0], tr("Type a text and press Trace"));
  {
    const QSignalBlocker block(m_compare);
    m_compare->clear();
    m_compare->addItem(tr("no other run"), qint64(-1));
  }
  onCompareChosen();
}

void RoutingDialog::clearColumn(Column& column, const QString& prompt) {
  column.routing = TokenRouting{};
  column.pending = column.failed = false;
  column.status.clear();
  column.layers->clearMap(prompt);
  column.layer->clearMap(tr("the layer chosen above, expert by expert"));
  // The run's colour as in the Compare view: the first run's, then the second's.
  const int index = &column == &m_columns[0] ? 0 : 1;
  column.header->setText(QStringLiteral("<b><span style='color:%1'>&#9632;</span> %2</b>")
                             .arg(runColor(index).name(), column.name.toHtmlEscaped()));
  column.box->setVisible(column.id >= 0 || index == 0);
  // Exported pictures and tables are named after their run, then the map's title.
  for (TokenRoutingMap* map : {column.layers, column.layer})
    PlotExport::of(map)->setFileStem(QStringLiteral("routing-run%1").arg(column.id));
}

void RoutingDialog::setCandidates(const QList<QPair<qint64, QString>>& runs) {
  const qint64 chosen = comparedRun();
  {
    const QSignalBlocker block(m_compare);
    m_compare->clear();
    m_compare->addItem(tr("no other run"), qint64(-1));
    for (const auto& [id, name] : runs)
      if (id != run()) m_compare->addItem(name, id);
    m_compare->setCurrentIndex(std::max(0, m_compare->findData(chosen)));
  }
  if (m_compare->currentData().toLongLong() != chosen) onCompareChosen();
}

bool RoutingDialog::setCompared(qint64 id) {
  const int i = m_compare->findData(id);
  if (i < 0) return false;
  m_compare->setCurrentIndex(i);
  return true;
}

void RoutingDialog::onCompareChosen() {
  Column& c = m_columns[1];
  c.id = m_compare->currentData().toLongLong();
  c.name = c.id >= 0 ? m_compare->currentText() : QString();
  clearColumn(c, tr("Press Trace"));
  // Room for two columns of maps, as far as the screen allows.
  if (c.id >= 0 && width() < kTwoColumnWidth) {
    const QScreen* s = screen();
    resize(s ? std::min(kTwoColumnWidth, s->availableGeometry().width()) : kTwoColumnWidth,
           height());
  }
  updateTitle();
  fillChoices();
  redraw();
  updateStatus();
  updateBusy();
  emit comparedRunChanged(c.id);
  // Beside a trace already shown, the new run gets the same text at once.
  if (c.id >= 0 && !m_columns[0].routing.layers.empty() && !text().trimmed().isEmpty())
    requestTrace(c);
}

void RoutingDialog::updateTitle() {
  QString title = tr("Token routing");
  if (run() >= 0) title += QStringLiteral(": ") + m_columns[0].name;
  if (comparedRun() >= 0) title += tr(" and %1").arg(m_columns[1].name);
  setWindowTitle(title);
}

QString RoutingDialog::text() const {
  return m_text->toPlainText();
}

QString RoutingDialog::status() const {
  return m_status->text();
}

RoutingDialog::Column* RoutingDialog::columnOf(qint64 id) {
  for (Column& c : m_columns)
    if (c.id >= 0 && c.id == id) return &c;
  return nullptr;
}

bool RoutingDialog::busy() const {
  return std::any_of(m_columns.begin(), m_columns.end(), [](const Column& c) { return c.pending; });
}

void RoutingDialog::requestTrace() {
  if (run() < 0 || text().trimmed().isEmpty() || busy()) return;
  for (Column& c : m_columns)
    if (c.id >= 0) requestTrace(c);
}

void RoutingDialog::requestTrace(Column& column) {
  column.pending = true;
  column.failed = false;
  column.status = tr("tracing: loading the run's model and its newest checkpoint...");
  updateBusy();
  updateStatus();
  emit traceRequested(column.id, text());
}

void RoutingDialog::updateBusy() {
  m_trace->setEnabled(!busy());
  m_text->setReadOnly(busy());
}

void RoutingDialog::showRouting(qint64 id, const TokenRouting& routing) {
  Column* c = columnOf(id);
  if (!c) return;
  c->routing = routing;
  c->pending = c->failed = false;
  c->status = tr("%1 tokens through %2 routing layers.")
                  .arg(routing.tokens.size())
                  .arg(routing.layers.size());
  fillChoices();
  redraw();
  updateBusy();
  updateStatus();
}

void RoutingDialog::showFailure(qint64 id, const QString& why) {
  Column* c = columnOf(id);
  if (!c) return;
  c->pending = false;
  c->failed = true;
  c->status = tr("Not traced: %1").arg(why);
  updateBusy();
  updateStatus();
}

// One line per run shown (with its name when there are two), then how to read the maps.
void RoutingDialog::updateStatus() {
  const bool two = comparedRun() >= 0;
  QStringList lines;
  bool failed = false;
  for (const Column& c : m_columns) {
    if (c.id < 0 || c.status.isEmpty()) continue;
    lines << (two ? c.name + QStringLiteral(": ") : QString()) + c.status;
    failed = failed || c.failed;
  }
  const bool traced = std::any_of(m_columns.begin(), m_columns.end(),
                                  [](const Column& c) { return !c.routing.layers.empty(); });
  if (traced)
    lines << tr("Hover a cell for every expert's gate; click a row to see its layer below.");
  else if (lines.isEmpty())
    lines << tr(
        "Each token goes to the top-K experts of every routed module; the map shows the "
        "expert with the largest gate, pooled over the modules.");
  m_status->setStyleSheet(failed ? errorStyle() : QString());
  m_status->setText(lines.join(QLatin1Char('\n')));
}

// The module names and layers of the routings shown; the choices made stay where they still
// exist.
void RoutingDialog::fillChoices() {
  const QString module = m_module->currentData().toString();
  const QVariant layer = m_layer_box->currentData();
  const QSignalBlocker block_module(m_module), block_layer(m_layer_box);
  std::vector<std::string> modules;
  // Per layer, each run's expert count ("-" where a run does not route the layer).
  const int shown = comparedRun() >= 0 ? 2 : 1;
  std::map<int, QStringList> experts;
  for (int i = 0; i < shown; ++i) {
    for (const LayerTokenRouting& l : m_columns[size_t(i)].routing.layers) {
      for (const ModuleTokenRouting& m : l.modules)
        if (std::find(modules.begin(), modules.end(), m.module) == modules.end())
          modules.push_back(m.module);
      QStringList& counts = experts[l.layer];
      while (counts.size() < shown) counts << QStringLiteral("-");
      counts[i] = QString::number(l.experts);
    }
  }
  m_module->clear();
  m_module->addItem(tr("all (mean)"), QString());
  for (const std::string& m : modules)
    m_module->addItem(QString::fromStdString(m), QString::fromStdString(m));
  m_module->setCurrentIndex(std::max(0, m_module->findData(module)));
  m_layer_box->clear();
  for (const auto& [l, counts] : experts)
    m_layer_box->addItem(tr("%1 (%2 experts)").arg(l + 1).arg(counts.join(QStringLiteral(" | "))),
                         l);
  // The top layer first: MoLA gives it the most experts.
  const int i = layer.isValid() ? m_layer_box->findData(layer) : -1;
  m_layer_box->setCurrentIndex(i >= 0 ? i : m_layer_box->count() - 1);
}

std::string RoutingDialog::chosenModule() const {
  return m_module->currentData().toString().toStdString();
}

void RoutingDialog::redraw() {
  double top = 0.0;
  for (Column& c : m_columns) {
    if (c.routing.layers.empty()) continue;
    c.layers->showLayers(c.routing, chosenModule());
    c.layer->showLayer(c.routing, m_layer_box->currentData().toInt(),
                       RoutingQuantity(m_quantity->currentData().toInt()), chosenModule());
    top = std::max(top, c.layer->valueTop());
  }
  // Both layer maps on one colour scale, so that a colour means one value on either side.
  for (Column& c : m_columns)
    if (c.id >= 0 && !c.routing.layers.empty()) c.layer->setValueTop(top);
}

}  // namespace mola::widgets
