// SPDX-License-Identifier: GPL-3.0-or-later
#include "run_label_dialog.h"

#include <QDialogButtonBox>
#include <QFormLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QVBoxLayout>
#include <algorithm>

namespace mola::widgets {

RunLabelDialog::RunLabelDialog(const QString& run_title, const std::vector<std::string>& tags,
                               const std::string& note, QWidget* parent)
    : QDialog(parent) {
  setWindowTitle(tr("Tags and note: %1").arg(run_title));
  QStringList shown;
  for (const std::string& t : tags) shown << QString::fromStdString(t);
  m_tags = new QLineEdit(shown.join(QStringLiteral(", ")));
  m_tags->setPlaceholderText(tr("e.g. baseline, lr-sweep"));
  m_note = new QPlainTextEdit(QString::fromStdString(note));
  m_note->setPlaceholderText(tr("What this run tried, what you saw"));
  auto* form = new QFormLayout;
  form->addRow(tr("Tags (comma-separated):"), m_tags);
  form->addRow(tr("Note:"), m_note);
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Save | QDialogButtonBox::Cancel);
  connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
  connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
  auto* layout = new QVBoxLayout(this);
  layout->addLayout(form, 1);
  auto* hint = new QLabel(tr("The Runs view's search finds runs by their tags and notes."));
  hint->setWordWrap(true);
  layout->addWidget(hint);
  layout->addWidget(buttons);
  resize(460, 300);
}

std::vector<std::string> RunLabelDialog::tags() const {
  std::vector<std::string> out;
  for (const QString& part : m_tags->text().split(QLatin1Char(','))) {
    const std::string t = part.trimmed().toStdString();
    if (!t.empty() && std::find(out.begin(), out.end(), t) == out.end()) out.push_back(t);
  }
  return out;
}

std::string RunLabelDialog::note() const {
  return m_note->toPlainText().trimmed().toStdString();
}

}  // namespace mola::widgets
