// SPDX-License-Identifier: GPL-3.0-or-later
// RunsTableModel: the stored runs as a table (name, status, allocation, model, best score, created,
// steps, study, tags) that refreshes in place, keyed by run id (torch-free, store-agnostic).
#pragma once

#include <QAbstractTableModel>
#include <QColor>
#include <QString>
#include <optional>
#include <string>
#include <vector>

#include "adapters/allocation.h"
#include "store/run_store.h"

class QTimer;

namespace mola::widgets {

// One run as the browser shows it; whoever reads the store fills it in.
struct RunsRow {
  RunRecord record;
  Allocation allocation;  // from record.allocation; empty for full fine-tuning or an unknown depth
  std::optional<double> best_score;  // best accuracy on the run's own benchmark (primaryBenchmark)
  QString best_benchmark;            // where best_score was measured
  QString study_name;                // the study that queued the run (record.study), if any
  bool task_gated = false;           // MOELoRA: a gate that reads the task, not the token

  // A row for `record` with its allocation parsed from the stored per-layer list ("2,2,4,4");
  // any other spelling (a preset whose depth the record does not tell) leaves it empty.
  static RunsRow fromRecord(RunRecord record, std::optional<double> best_score = std::nullopt,
                            QString best_benchmark = {});
};

class RunsTableModel : public QAbstractTableModel {
  Q_OBJECT

 public:
  enum Column {
    Name,
    Status,
    AllocationColumn,
    Model,
    BestScore,
    Created,
    Steps,
    StudyColumn,  // "study / variant"
    Tags,         // the tags; the note in the tooltip (both searchable)
    ColumnCount
  };
  enum Role {
    // Numbers as numbers, dates as milliseconds since the epoch, text lower-cased.
    SortRole = Qt::UserRole + 1,
    RunIdRole,       // qint64, every column
    AllocationRole,  // QList<int> experts per layer (bottom first), the allocation column
    FilterRole,      // what the search box matches: name, status, allocation, model, study,
                     // variant, tags, note
  };

  explicit RunsTableModel(QObject* parent = nullptr);
  ~RunsTableModel() override;

  // Replaces the rows with `rows`, keyed by run id: rows whose id is gone are removed, new ids are
  // appended (in the given order), kept ids are updated in place (dataChanged only where something
  // changed), so selections and persistent indexes survive a refresh.
  void setRows(std::vector<RunsRow> rows);
  const std::vector<RunsRow>& rows() const { return m_rows; }
  // The row of run `id`, or -1.
  int rowOf(qint64 id) const;
  qint64 runId(int row) const;
  // Scale for the allocation silhouettes: the most experts any listed run gives a layer.
  int maxExperts() const { return m_max_experts; }

  static QString statusText(RunStatus status);
  static QColor statusColour(RunStatus status);
  // "inverted-triangle", "2,2,4,4", "plain LoRA", "full FT", or the stored text.
  static QString allocationText(const RunsRow& row);

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QVariant headerData(int section, Qt::Orientation orientation,
                      int role = Qt::DisplayRole) const override;

 private:
  QVariant allocationData(const RunsRow& row, int role) const;
  QVariant labelData(const RunsRow& row, int column, int role) const;
  void updateAnimation();
  void advanceAnimation();

  std::vector<RunsRow> m_rows;
  int m_max_experts = 1;
  // Running rows pulse: the phase steps while at least one run is running.
  QTimer* m_pulse = nullptr;
  int m_phase = 0;
};

}  // namespace mola::widgets
