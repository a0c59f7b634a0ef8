// SPDX-License-Identifier: GPL-3.0-or-later
// RunLabelDialog: a run's tags (comma-separated) and its note (free text), edited together
// (torch-free).
#pragma once

#include <QDialog>
#include <string>
#include <vector>

class QLineEdit;
class QPlainTextEdit;

namespace mola::widgets {

class RunLabelDialog : public QDialog {
  Q_OBJECT

 public:
  RunLabelDialog(const QString& run_title, const std::vector<std::string>& tags,
                 const std::string& note, QWidget* parent = nullptr);

  // The tags as typed: split at commas, trimmed, empty ones dropped, each once.
  std::vector<std::string> tags() const;
  std::string note() const;

  QLineEdit* tagsEdit() const { return m_tags; }
  QPlainTextEdit* noteEdit() const { return m_note; }

 private:
  QLineEdit* m_tags;
  QPlainTextEdit* m_note;
};

}  // namespace mola::widgets
