// SPDX-License-Identifier: GPL-3.0-or-later
// DataSourceEditor layout and the format / record-count check of the chosen data.
#include "data_source_editor.h"

#include <QComboBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QPushButton>
#include <QSpinBox>
#include <exception>

#include "data/qa_importer.h"
#include "data/qa_source.h"
#include "data/synthetic_qa.h"
#include "theme.h"

namespace mola::widgets {

namespace {

constexpr const char* kSyntheticPrefix = "synthetic:";

QString qs(std::string_view s) {
  return QString::fromUtf8(s.data(), qsizetype(s.size()));
}

}  // namespace

DataSourceEditor::DataSourceEditor(const QString& what, QWidget* parent)
    : QWidget(parent), m_what(what) {
  auto* grid = new QGridLayout(this);
  grid->setContentsMargins(0, 0, 0, 0);
  grid->setHorizontalSpacing(6);
  grid->setVerticalSpacing(3);

  addPathRow(grid);
  addOptionsRow(grid);
  connectInputs();
  setStatus(QString(), false);
}

void DataSourceEditor::addPathRow(QGridLayout* grid) {
  const QString& what = m_what;
  m_path = new QLineEdit(this);
  m_path->setAccessibleName(tr("Path of the %1").arg(what));
  m_path->setPlaceholderText(tr("a benchmark file, or synthetic:TASK[:COUNT[:SEED]]"));
  m_browse = new QPushButton(tr("Browse..."), this);
  m_browse->setToolTip(tr("Choose a benchmark file (JSONL, JSON, TSV)"));
  m_synthetic = new QComboBox(this);
  m_synthetic->setAccessibleName(tr("Built-in synthetic task for the %1").arg(what));
  m_synthetic->addItem(tr("Synthetic..."));
  for (const SyntheticTask& t : syntheticTasks()) {
    m_synthetic->addItem(QStringLiteral("synthetic:") + qs(t.name));
    m_synthetic->setItemData(m_synthetic->count() - 1, qs(t.description), Qt::ToolTipRole);
  }
  m_synthetic->setToolTip(
      tr("A built-in synthetic task (200 questions, seed 1, unless the path "
         "adds :COUNT:SEED)"));
  m_synthetic->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
  m_synthetic->setMinimumContentsLength(8);
  auto* path_row = new QHBoxLayout;
  path_row->addWidget(m_path, 1);
  path_row->addWidget(m_browse);
  grid->addLayout(path_row, 0, 0, 1, 6);
}

// The synthetic-task menu, format, split and limit in a row, and the status line under them.
void DataSourceEditor::addOptionsRow(QGridLayout* grid) {
  const QString& what = m_what;
  m_format = new QComboBox(this);
  m_format->setAccessibleName(tr("Format of the %1").arg(what));
  m_format->setToolTip(tr("The file's format; auto-detect reads it from the content"));
  m_format->addItem(tr("auto-detect"), QString());
  for (const std::string& f : qaFormats())
    m_format->addItem(QString::fromStdString(f), QString::fromStdString(f));
  m_format->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
  m_format->setMinimumContentsLength(8);
  m_split = new QLineEdit(this);
  m_split->setPlaceholderText(tr("split"));
  m_split->setAccessibleName(tr("Split of the %1").arg(what));
  m_split->setToolTip(tr("ScienceQA's split (train, val, test, ...); empty: all"));
  m_split->setMaximumWidth(64);
  m_limit = new QSpinBox(this);
  m_limit->setRange(0, 99'999'999);
  m_limit->setSpecialValueText(tr("all records"));
  m_limit->setPrefix(tr("limit "));
  m_limit->setAccessibleName(tr("Record limit of the %1").arg(what));
  m_limit->setToolTip(tr("Keep the first N records; all: every record"));
  grid->addWidget(m_synthetic, 1, 0);
  grid->addWidget(m_format, 1, 1);
  grid->addWidget(m_split, 1, 2);
  grid->addWidget(m_limit, 1, 3);
  grid->setColumnStretch(0, 1);
  grid->setColumnStretch(1, 1);

  m_status = new QLabel(this);
  m_status->setObjectName(QStringLiteral("dataStatus"));
  m_status->setWordWrap(true);
  m_status->setTextInteractionFlags(Qt::TextSelectableByMouse);
  grid->addWidget(m_status, 2, 0, 1, 4);
}

void DataSourceEditor::connectInputs() {
  connect(m_browse, &QPushButton::clicked, this, &DataSourceEditor::browse);
  connect(m_synthetic, &QComboBox::activated, this, [this](int index) {
    if (index <= 0) return;
    m_path->setText(m_synthetic->itemText(index));
    m_synthetic->setCurrentIndex(0);
    inspect();
    emit changed();
  });
  connect(m_path, &QLineEdit::textEdited, this, &DataSourceEditor::changed);
  connect(m_path, &QLineEdit::editingFinished, this, [this] {
    if (m_path->isModified()) inspect();
    m_path->setModified(false);
  });
  connect(m_format, &QComboBox::activated, this, [this] {
    inspect();
    emit changed();
  });
  connect(m_split, &QLineEdit::textEdited, this, &DataSourceEditor::changed);
  connect(m_split, &QLineEdit::editingFinished, this, [this] {
    if (m_split->isModified()) inspect();
    m_split->setModified(false);
  });
  connect(m_limit, &QSpinBox::valueChanged, this, &DataSourceEditor::changed);
}

void DataSourceEditor::setSpec(const DataSpec& spec) {
  m_path->setText(QString::fromStdString(spec.path));
  const QString format = QString::fromStdString(spec.format);
  int index = m_format->findData(format);
  if (index < 0) {
    // Kept as given so that validation can name it, rather than silently dropped.
    m_format->addItem(format, format);
    index = m_format->count() - 1;
  }
  m_format->setCurrentIndex(index);
  m_split->setText(QString::fromStdString(spec.split));
  m_limit->setValue(int(std::min<size_t>(spec.limit, size_t(m_limit->maximum()))));
  inspect();
}

DataSpec DataSourceEditor::spec() const {
  DataSpec s;
  s.path = m_path->text().trimmed().toStdString();
  s.format = m_format->currentData().toString().toStdString();
  s.split = m_split->text().trimmed().toStdString();
  s.limit = size_t(m_limit->value());
  return s;
}

void DataSourceEditor::browse() {
  const QString start = QFileInfo(m_path->text()).absolutePath();
  const QString file = QFileDialog::getOpenFileName(
      this, tr("Choose the %1").arg(m_what), start,
      tr("Benchmark files (*.jsonl *.json *.tsv *.txt);;All files (*)"));
  if (file.isEmpty()) return;
  m_path->setText(file);
  inspect();
  emit changed();
}

void DataSourceEditor::inspect() {
  const DataSpec s = spec();
  const bool synthetic = s.path.rfind(kSyntheticPrefix, 0) == 0;
  m_format->setEnabled(!synthetic);
  m_split->setEnabled(!synthetic);
  if (s.path.empty()) return setStatus(QString(), false);
  const QLocale locale(QLocale::English);
  try {
    if (synthetic) {
      const QaDataset data = loadQaSource(s.path, "", "", s.limit);
      return setStatus(tr("built-in synthetic questions: %1 records")
                           .arg(locale.toString(qlonglong(data.records.size()))),
                       false);
    }
    QaImportOptions options;
    options.format = s.format;
    options.split = s.split;
    const std::string format = s.format.empty() ? detectQaFormat(s.path) : s.format;
    options.format = format;
    const QaDataset data = importQa(s.path, options);
    QString text = tr("%1 (%2): %3 records")
                       .arg(QString::fromStdString(format),
                            s.format.empty() ? tr("detected") : tr("as chosen"))
                       .arg(locale.toString(qlonglong(data.records.size())));
    if (s.limit > 0 && s.limit < data.records.size())
      text += tr(", the first %1 used").arg(locale.toString(qlonglong(s.limit)));
    if (!data.skipped.empty())
      text +=
          tr("; %1 left out, first: line %2: %3")
              .arg(data.skipped.size() == 1 ? tr("1 row") : tr("%1 rows").arg(data.skipped.size()))
              .arg(data.skipped.front().line)
              .arg(QString::fromStdString(data.skipped.front().reason));
    for (const std::string& note : data.notes)
      text += QStringLiteral("; ") + QString::fromStdString(note);
    setStatus(text, false);
  } catch (const std::exception& e) {
    setStatus(QString::fromStdString(e.what()), true);
  }
}

QString DataSourceEditor::status() const {
  return m_status->text();
}

void DataSourceEditor::setStatus(const QString& text, bool error) {
  m_status_error = error;
  m_status->setText(text);
  m_status->setVisible(!text.isEmpty());
  if (error) {
    m_status->setForegroundRole(QPalette::WindowText);
    m_status->setStyleSheet(errorStyle());
  } else {
    setDimText(m_status);
  }
}

}  // namespace mola::widgets
