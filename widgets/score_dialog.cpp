// SPDX-License-Identifier: GPL-3.0-or-later
#include "score_dialog.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QFormLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QVBoxLayout>

#include "data_source_editor.h"
#include "theme.h"

namespace mola::widgets {

ScoreDialog::ScoreDialog(const QString& run, QWidget* parent) : QDialog(parent) {
  setWindowTitle(tr("Score %1").arg(run));
  auto* layout = new QVBoxLayout(this);
  auto* intro = new QLabel(tr("Scores the run's newest intact checkpoint on a benchmark, with the "
                              "run's model and prompt template. The score joins the run's "
                              "evaluations (Runs, Compare)."),
                           this);
  intro->setWordWrap(true);
  setDimText(intro);
  layout->addWidget(intro);
  auto* form = new QFormLayout;
  m_data = new DataSourceEditor(tr("benchmark"), this);
  form->addRow(tr("&Benchmark:"), m_data);
  m_protocol = new QComboBox(this);
  m_protocol->addItem(tr("as the run was evaluated"), QString());
  m_protocol->addItem(QStringLiteral("likelihood"), QStringLiteral("likelihood"));
  m_protocol->addItem(QStringLiteral("generate"), QStringLiteral("generate"));
  m_protocol->setToolTip(
      tr("likelihood: the most likely option; generate: greedy decoding and 'The answer is X'"));
  form->addRow(tr("&Protocol:"), m_protocol);
  layout->addLayout(form);
  m_buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
  m_buttons->button(QDialogButtonBox::Ok)->setText(tr("Score"));
  layout->addWidget(m_buttons);
  connect(m_buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
  connect(m_buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
  connect(m_data, &DataSourceEditor::changed, this, &ScoreDialog::updateOk);
  connect(m_data->pathEdit(), &QLineEdit::textChanged, this, &ScoreDialog::updateOk);
  resize(560, sizeHint().height());
  updateOk();
}

ScoreRequest ScoreDialog::request() const {
  return {m_data->spec(), m_protocol->currentData().toString()};
}

void ScoreDialog::updateOk() {
  // A benchmark that cannot be read is named in red below it: nothing to score yet.
  m_buttons->button(QDialogButtonBox::Ok)
      ->setEnabled(!m_data->spec().path.empty() && !m_data->statusIsError());
}

}  // namespace mola::widgets
