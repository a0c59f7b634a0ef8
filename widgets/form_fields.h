// SPDX-License-Identifier: GPL-3.0-or-later
// Form fields the experiment form builds from: number edits, spin and choice boxes, labelled rows.
#pragma once

#include <QString>
#include <string>
#include <vector>

class QComboBox;
class QFormLayout;
class QGroupBox;
class QHBoxLayout;
class QLayout;
class QLineEdit;
class QSpinBox;
class QWidget;

namespace mola::widgets::form_fields {

// The shortest text that reads back as the same double, so that a form round-trips exactly.
QString shortest(double v);
// The edit's number; std::invalid_argument naming `key` when it is not one.
double parseNumber(const QLineEdit* edit, const char* key);
// A narrow edit for a number, marked red while its text is not one.
QLineEdit* numberEdit(QWidget* parent, const QString& tip);
QSpinBox* spin(QWidget* parent, int min, int max, const QString& tip,
               const QString& special = QString());
QComboBox* choice(QWidget* parent, const std::vector<std::string>& items);
// Selects `value`, adding it when it is not one of the items, so that validation names it.
void select(QComboBox* combo, const std::string& value);
// A row whose field is a layout: the label's mnemonic goes to `buddy`.
void addRow(QFormLayout* form, const QString& text, QLayout* field, QWidget* buddy);
QFormLayout* formIn(QGroupBox* box);
// `first`, then a small gap, `label` and `second`, then the rest of the row empty.
QHBoxLayout* pairRow(QWidget* first, const QString& label, QWidget* second);

}  // namespace mola::widgets::form_fields
