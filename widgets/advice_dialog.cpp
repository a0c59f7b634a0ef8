// SPDX-License-Identifier: GPL-3.0-or-later
#include "advice_dialog.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QFormLayout>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QVBoxLayout>

#include "allocation_silhouette.h"
#include "theme.h"

namespace mola::widgets {

AdviceDialog::AdviceDialog(const RunRecord& pilot, const Allocation& allocation,
                           std::vector<RouterStatsSnapshot> stats, int top_k,
                           const std::vector<StudyRecord>& studies, QWidget* parent)
    : QDialog(parent), m_pilot(allocation), m_stats(std::move(stats)) {
  setWindowTitle(tr("Advise an allocation from run #%1").arg(pilot.id));
  m_budget = new QSpinBox;
  m_budget->setRange(1, 100000);
  m_budget->setValue(int(allocation.totalExperts()));
  m_budget->setToolTip(
      tr("Experts in all, per module type (the pilot has %1)").arg(allocation.totalExperts()));
  m_minimum = new QSpinBox;
  m_minimum->setRange(1, 64);
  m_minimum->setValue(std::max(1, top_k));
  m_minimum->setToolTip(tr("The fewest experts a layer gets (at least top-K for MoLA)"));
  m_before = new AllocationSilhouette;
  m_after = new AllocationSilhouette;
  for (AllocationSilhouette* s : {m_before, m_after}) s->setMinimumSize(110, 110);
  m_lists = new QLabel;
  m_lists->setWordWrap(true);
  m_reasoning = new QPlainTextEdit;
  m_reasoning->setReadOnly(true);
  m_reasoning->setMinimumHeight(140);

  m_study = new QComboBox;
  for (const StudyRecord& s : studies)
    m_study->addItem(tr("%1 (#%2)").arg(QString::fromStdString(s.name)).arg(s.id), qint64(s.id));
  if (pilot.study > 0)
    m_study->setCurrentIndex(std::max(0, m_study->findData(qint64(pilot.study))));
  m_name = new QLineEdit(QStringLiteral("advisor-router"));
  m_design = new QPushButton(tr("Use in Design"));
  m_design->setToolTip(tr("Open the pilot's experiment in the Design view with this allocation"));
  m_to_study = new QPushButton(tr("Add to study"));
  m_to_study->setToolTip(
      tr("Queue the proposal as one more variant of the study, for each of "
         "its seeds"));

  auto* form = new QFormLayout;
  form->addRow(tr("Pilot:"), new QLabel(QString::fromStdString(pilot.name)));
  form->addRow(tr("Budget (experts in all):"), m_budget);
  form->addRow(tr("At least per layer:"), m_minimum);
  auto* shapes = new QGridLayout;
  shapes->addWidget(new QLabel(tr("Pilot")), 0, 0, Qt::AlignHCenter);
  shapes->addWidget(new QLabel(tr("Proposal")), 0, 1, Qt::AlignHCenter);
  shapes->addWidget(m_before, 1, 0);
  shapes->addWidget(m_after, 1, 1);
  auto* top = new QHBoxLayout;
  top->addLayout(form, 1);
  top->addLayout(shapes);
  auto* study_row = new QHBoxLayout;
  study_row->addWidget(new QLabel(tr("Study:")));
  study_row->addWidget(m_study, 1);
  study_row->addWidget(new QLabel(tr("as variant")));
  study_row->addWidget(m_name);
  study_row->addWidget(m_to_study);
  auto* close = new QDialogButtonBox(QDialogButtonBox::Close);
  close->addButton(m_design, QDialogButtonBox::ActionRole);
  connect(close, &QDialogButtonBox::rejected, this, &QDialog::reject);
  auto* layout = new QVBoxLayout(this);
  layout->addLayout(top);
  layout->addWidget(m_lists);
  layout->addWidget(m_reasoning, 1);
  layout->addLayout(study_row);
  layout->addWidget(close);

  connect(m_budget, &QSpinBox::valueChanged, this, &AdviceDialog::propose);
  connect(m_minimum, &QSpinBox::valueChanged, this, &AdviceDialog::propose);
  connect(m_design, &QPushButton::clicked, this, [this] {
    if (m_advice) emit useInDesign(m_advice->allocation);
  });
  connect(m_to_study, &QPushButton::clicked, this, [this] {
    if (m_advice && m_study->currentIndex() >= 0)
      emit addToStudy(m_study->currentData().toLongLong(), m_name->text().trimmed(),
                      m_advice->allocation, QString::fromStdString(m_advice->summary));
  });
  connect(m_name, &QLineEdit::textChanged, this, &AdviceDialog::propose);
  resize(640, 520);
  propose();
}

void AdviceDialog::propose() {
  m_before->setAllocation(m_pilot);
  m_advice.reset();
  QString error;
  try {
    m_advice = adviseFromRouter(m_stats, m_pilot, m_budget->value(), m_minimum->value());
  } catch (const std::exception& e) {
    error = QString::fromUtf8(e.what());
  }
  const int scale =
      std::max(m_pilot.maxExperts(), m_advice ? m_advice->allocation.maxExperts() : 1);
  m_before->setScaleMax(scale);
  m_after->setScaleMax(scale);
  if (m_advice) {
    m_after->setAllocation(m_advice->allocation);
    m_lists->setText(tr("Pilot: %1\nProposal: %2")
                         .arg(QString::fromStdString(m_pilot.toList()),
                              QString::fromStdString(m_advice->allocation.toList())));
    m_lists->setStyleSheet(QString());
    m_reasoning->setPlainText(QString::fromStdString(describeAdvice(*m_advice)));
  } else {
    m_after->setAllocation(Allocation());
    m_lists->setText(tr("No proposal: %1").arg(error));
    m_lists->setStyleSheet(errorStyle());
    m_reasoning->clear();
  }
  m_design->setEnabled(m_advice.has_value());
  m_to_study->setEnabled(m_advice && m_study->count() > 0 && !m_name->text().trimmed().isEmpty());
  m_to_study->setToolTip(m_study->count() == 0 ? tr("The database has no study to add it to")
                                               : tr("Queue the proposal as one more variant of "
                                                    "the study, for each of its seeds"));
}

}  // namespace mola::widgets
