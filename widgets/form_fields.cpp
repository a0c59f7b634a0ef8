// SPDX-License-Identifier: GPL-3.0-or-later
// Form fields: number edits, spin and choice boxes, labelled rows.
#include "form_fields.h"

#include <QComboBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QSpinBox>
#include <charconv>
#include <stdexcept>

namespace mola::widgets::form_fields {

// The shortest text that reads back as the same double, so that a form round-trips exactly.
QString shortest(double v) {
  char buf[64];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? QString::fromLatin1(buf, int(end - buf)) : QString::number(v, 'g', 17);
}

double parseNumber(const QLineEdit* edit, const char* key) {
  bool ok = false;
  const QString text = edit->text().trimmed();
  const double v = text.toDouble(&ok);
  if (!ok)
    throw std::invalid_argument(std::string(key) + ": '" + text.toStdString() +
                                "' is not a number");
  return v;
}

QLineEdit* numberEdit(QWidget* parent, const QString& tip) {
  auto* e = new QLineEdit(parent);
  e->setToolTip(tip);
  e->setMaximumWidth(120);
  // A number that does not parse is marked at once; config() names the key.
  QObject::connect(e, &QLineEdit::textChanged, e, [e](const QString& text) {
    bool ok = false;
    text.trimmed().toDouble(&ok);
    e->setStyleSheet(ok ? QString() : QStringLiteral("border: 1px solid #c0392b;"));
  });
  return e;
}

QSpinBox* spin(QWidget* parent, int min, int max, const QString& tip, const QString& special) {
  auto* s = new QSpinBox(parent);
  s->setRange(min, max);
  s->setToolTip(tip);
  if (!special.isEmpty()) s->setSpecialValueText(special);
  s->setMinimumWidth(90);
  return s;
}

QComboBox* choice(QWidget* parent, const std::vector<std::string>& items) {
  auto* c = new QComboBox(parent);
  for (const std::string& s : items) c->addItem(QString::fromStdString(s));
  return c;
}

// Selects `value`, adding it when it is not one of the items, so that validation names it.
void select(QComboBox* combo, const std::string& value) {
  int i = combo->findText(QString::fromStdString(value));
  if (i < 0) {
    combo->addItem(QString::fromStdString(value));
    i = combo->count() - 1;
  }
  combo->setCurrentIndex(i);
}

// A row whose field is a layout: the label's mnemonic goes to `buddy`.
void addRow(QFormLayout* form, const QString& text, QLayout* field, QWidget* buddy) {
  auto* label = new QLabel(text, buddy->parentWidget());
  label->setBuddy(buddy);
  form->addRow(label, field);
}

QFormLayout* formIn(QGroupBox* box) {
  auto* f = new QFormLayout(box);
  f->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
  f->setLabelAlignment(Qt::AlignRight | Qt::AlignVCenter);
  // Narrow, a label goes above its field rather than clipping it.
  f->setRowWrapPolicy(QFormLayout::WrapLongRows);
  return f;
}

QHBoxLayout* pairRow(QWidget* first, const QString& label, QWidget* second) {
  auto* row = new QHBoxLayout;
  row->addWidget(first);
  row->addSpacing(12);
  row->addWidget(new QLabel(label, first->parentWidget()));
  row->addWidget(second);
  row->addStretch(1);
  return row;
}

}  // namespace mola::widgets::form_fields
