// SPDX-License-Identifier: GPL-3.0-or-later
// RunsTableModel: run rows with keyed in-place refresh, typed sort keys and status colours.
#include "runs_table_model.h"

#include <QDateTime>
#include <QFileInfo>
#include <QIcon>
#include <QPainter>
#include <QPixmap>
#include <QTimer>
#include <algorithm>
#include <cmath>
#include <unordered_map>
#include <unordered_set>

#include <nlohmann/json.hpp>

namespace mola::widgets {

namespace {

bool sameShown(const RunsRow& a, const RunsRow& b) {
  const RunRecord &x = a.record, &y = b.record;
  return x.name == y.name && x.status == y.status && x.created_at == y.created_at &&
         x.finished_at == y.finished_at && x.allocation == y.allocation && x.model == y.model &&
         x.host == y.host && x.message == y.message && x.last_step == y.last_step &&
         a.allocation == b.allocation && a.best_score == b.best_score &&
         a.best_benchmark == b.best_benchmark && a.study_name == b.study_name &&
         x.variant == y.variant && x.tags == y.tags && x.note == y.note;
}

QDateTime createdTime(const RunRecord& r) {
  QDateTime t = QDateTime::fromString(QString::fromStdString(r.created_at), Qt::ISODate);
  return t.isValid() ? t.toLocalTime() : t;
}

// "models/llama-2-7b-hf" -> "llama-2-7b-hf"; "builtin:tiny:3" stays.
QString shortModelName(const std::string& model) {
  const QString m = QString::fromStdString(model);
  if (m.startsWith(QLatin1String("builtin:"))) return m;
  const QString name = QFileInfo(m.endsWith(QLatin1Char('/')) ? m.chopped(1) : m).fileName();
  return name.isEmpty() ? m : name;
}

// A filled dot in the status colour; a running run's dot breathes with `phase` (0..11).
QIcon statusIcon(RunStatus status, int phase) {
  const qreal dpr = 2.0;  // crisp on high-DPI screens, scaled down elsewhere
  QPixmap pixmap(QSize(12, 12) * dpr);
  pixmap.setDevicePixelRatio(dpr);
  pixmap.fill(Qt::transparent);
  QPainter p(&pixmap);
  p.setRenderHint(QPainter::Antialiasing, true);
  QColor colour = RunsTableModel::statusColour(status);
  if (status == RunStatus::Running) {
    const double wave = 0.5 + 0.5 * std::cos(phase * 2.0 * M_PI / 12.0);
    QColor halo = colour;
    halo.setAlphaF(0.15 + 0.35 * wave);
    p.setPen(Qt::NoPen);
    p.setBrush(halo);
    p.drawEllipse(QRectF(0.5, 0.5, 11, 11));
    p.setBrush(colour);
    const double r = 2.6 + 1.2 * wave;
    p.drawEllipse(QPointF(6, 6), r, r);
  } else {
    // The light ring keeps the dot apart from a selected row's highlight of a similar hue.
    p.setPen(QPen(QColor(255, 255, 255, 220), 1.2));
    p.setBrush(colour);
    p.drawEllipse(QRectF(1.0, 1.0, 10, 10));
  }
  return QIcon(pixmap);
}

}  // namespace

RunsRow RunsRow::fromRecord(RunRecord record, std::optional<double> best_score,
                            QString best_benchmark) {
  RunsRow row;
  // A damaged list is shown as stored text, not drawn.
  row.allocation = Allocation::fromStoredList(record.allocation).value_or(Allocation());
  const nlohmann::json config = nlohmann::json::parse(record.config_json, nullptr, false);
  if (config.is_object() && config.contains("adapter") && config["adapter"].is_object()) {
    const nlohmann::json& method = config["adapter"].value("method", nlohmann::json());
    row.task_gated = method.is_string() && method.get<std::string>() == "moelora";
  }
  row.record = std::move(record);
  row.best_score = best_score;
  row.best_benchmark = std::move(best_benchmark);
  return row;
}

RunsTableModel::RunsTableModel(QObject* parent)
    : QAbstractTableModel(parent), m_pulse(new QTimer(this)) {
  m_pulse->setInterval(120);
  connect(m_pulse, &QTimer::timeout, this, &RunsTableModel::advanceAnimation);
}

RunsTableModel::~RunsTableModel() = default;

void RunsTableModel::setRows(std::vector<RunsRow> rows) {
  std::unordered_map<int64_t, size_t> incoming;  // run id -> index in `rows`
  for (size_t i = 0; i < rows.size(); ++i) incoming.emplace(rows[i].record.id, i);

  // Removals, back to front in contiguous blocks so that each block is one begin/end pair.
  for (int last = int(m_rows.size()) - 1; last >= 0;) {
    if (incoming.count(m_rows[size_t(last)].record.id)) {
      --last;
      continue;
    }
    int first = last;
    while (first > 0 && !incoming.count(m_rows[size_t(first - 1)].record.id)) --first;
    beginRemoveRows({}, first, last);
    m_rows.erase(m_rows.begin() + first, m_rows.begin() + last + 1);
    endRemoveRows();
    last = first - 1;
  }

  // Updates in place, then the new ids appended in their given order.
  std::unordered_set<int64_t> kept;
  for (size_t r = 0; r < m_rows.size(); ++r) {
    RunsRow& fresh = rows[incoming.at(m_rows[r].record.id)];
    kept.insert(fresh.record.id);
    if (sameShown(m_rows[r], fresh)) continue;
    m_rows[r] = std::move(fresh);
    emit dataChanged(index(int(r), 0), index(int(r), ColumnCount - 1));
  }
  std::vector<RunsRow> added;
  for (RunsRow& row : rows)  // a repeated id counts once
    if (kept.insert(row.record.id).second) added.push_back(std::move(row));
  if (!added.empty()) {
    const int first = int(m_rows.size());
    beginInsertRows({}, first, first + int(added.size()) - 1);
    for (RunsRow& row : added) m_rows.push_back(std::move(row));
    endInsertRows();
  }

  int most = 1;
  for (const RunsRow& row : m_rows)
    if (row.allocation.numLayers()) most = std::max(most, row.allocation.maxExperts());
  if (most != m_max_experts) {
    m_max_experts = most;
    if (!m_rows.empty())
      emit dataChanged(index(0, AllocationColumn), index(rowCount() - 1, AllocationColumn));
  }
  updateAnimation();
}

int RunsTableModel::rowOf(qint64 id) const {
  for (size_t r = 0; r < m_rows.size(); ++r)
    if (m_rows[r].record.id == id) return int(r);
  return -1;
}

qint64 RunsTableModel::runId(int row) const {
  return row >= 0 && row < rowCount() ? m_rows[size_t(row)].record.id : -1;
}

QString RunsTableModel::statusText(RunStatus status) {
  return QString::fromStdString(runStatusName(status));
}

QColor RunsTableModel::statusColour(RunStatus status) {
  switch (status) {
    case RunStatus::Running:
      return QColor(0x2e, 0x9d, 0x48);  // green
    case RunStatus::Completed:
      return QColor(0x2f, 0x6d, 0xb5);  // blue: done, nothing to act on
    case RunStatus::Stopped:
      return QColor(0x80, 0x80, 0x80);  // grey: stopped on purpose
    case RunStatus::Failed:
      return QColor(0xcc, 0x22, 0x22);  // red
    case RunStatus::Interrupted:
      return QColor(0xe0, 0x7b, 0x00);  // orange: can be resumed
  }
  return Qt::black;
}

QString RunsTableModel::allocationText(const RunsRow& row) {
  if (row.record.allocation.empty()) return QStringLiteral("full FT");
  const Allocation& a = row.allocation;
  if (!a.numLayers()) {
    const std::string& stored = row.record.allocation;
    if (stored == "1") return QStringLiteral("plain LoRA");
    if (stored.find_first_not_of("0123456789") == std::string::npos)
      return QStringLiteral("uniform-") + QString::fromStdString(stored);
    return QString::fromStdString(stored);
  }
  if (a.maxExperts() == 1) return QStringLiteral("plain LoRA");
  return QString::fromStdString(a.describe());
}

int RunsTableModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : int(m_rows.size());
}

int RunsTableModel::columnCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : ColumnCount;
}

QVariant RunsTableModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid() || index.row() >= rowCount()) return {};
  const RunsRow& row = m_rows[size_t(index.row())];
  const RunRecord& r = row.record;
  const int column = index.column();
  if (role == RunIdRole) return qint64(r.id);

  switch (column) {
    case Name:
      if (role == Qt::DisplayRole) return QString::fromStdString(r.name);
      if (role == SortRole) return QString::fromStdString(r.name).toLower();
      if (role == FilterRole) return QString::fromStdString(r.name);
      if (role == Qt::ToolTipRole)
        return QStringLiteral("run %1: %2\n%3")
            .arg(r.id)
            .arg(QString::fromStdString(r.name), QString::fromStdString(r.host));
      break;
    case Status:
      if (role == Qt::DisplayRole || role == FilterRole) return statusText(r.status);
      if (role == SortRole) return int(r.status);
      if (role == Qt::DecorationRole) return statusIcon(r.status, m_phase);
      if (role == Qt::ForegroundRole && r.status == RunStatus::Failed)
        return statusColour(r.status);
      if (role == Qt::ToolTipRole) {
        QString tip = statusText(r.status);
        if (!r.message.empty()) tip += QStringLiteral(": ") + QString::fromStdString(r.message);
        if (!r.finished_at.empty())
          tip += QStringLiteral("\nfinished ") + QString::fromStdString(r.finished_at);
        return tip;
      }
      break;
    case AllocationColumn:
      return allocationData(row, role);
    case Model:
      if (role == Qt::DisplayRole) return shortModelName(r.model);
      if (role == SortRole) return shortModelName(r.model).toLower();
      if (role == FilterRole || role == Qt::ToolTipRole) return QString::fromStdString(r.model);
      break;
    case BestScore:
      if (role == Qt::DisplayRole)
        return row.best_score ? QString::number(*row.best_score, 'f', 3) : QStringLiteral("–");
      if (role == SortRole) return row.best_score ? *row.best_score : -1.0;  // unscored lowest
      if (role == Qt::ToolTipRole && row.best_score)
        return QStringLiteral("best accuracy %1 on %2")
            .arg(QString::number(*row.best_score, 'f', 4), row.best_benchmark);
      if (role == Qt::TextAlignmentRole) return int(Qt::AlignRight | Qt::AlignVCenter);
      break;
    case Created: {
      const QDateTime t = createdTime(r);
      if (role == Qt::DisplayRole)
        return t.isValid() ? t.toString(QStringLiteral("yyyy-MM-dd HH:mm"))
                           : QString::fromStdString(r.created_at);
      if (role == SortRole) return t.isValid() ? t.toMSecsSinceEpoch() : qint64(0);
      if (role == Qt::ToolTipRole) return QString::fromStdString(r.created_at);
      break;
    }
    case Steps:
      if (role == Qt::DisplayRole) return QString::number(r.last_step);
      if (role == SortRole) return qint64(r.last_step);
      if (role == Qt::TextAlignmentRole) return int(Qt::AlignRight | Qt::AlignVCenter);
      break;
    case StudyColumn:
    case Tags:
      return labelData(row, column, role);
    default:
      break;
  }
  return {};
}

// The allocation column: its name, the experts per layer for the silhouette, and what the search
// matches (the per-layer list and the paper's label too).
QVariant RunsTableModel::allocationData(const RunsRow& row, int role) const {
  if (role == Qt::DisplayRole) return allocationText(row);
  if (role == SortRole) return allocationText(row).toLower();
  if (role == FilterRole) {
    QString text = allocationText(row);
    if (row.allocation.numLayers()) {
      text += QLatin1Char(' ') + QString::fromStdString(row.allocation.toList());
      for (const AllocationPreset& p : Allocation::presets())
        if (row.allocation.presetName() == std::string(p.name))
          text += QLatin1Char(' ') +
                  QString::fromUtf8(p.paper_name.data(), qsizetype(p.paper_name.size()));
    }
    return text;
  }
  if (role == AllocationRole) {
    QList<int> experts;
    for (int n : row.allocation.perLayer()) experts.append(n);
    return QVariant::fromValue(experts);
  }
  if (role == Qt::ToolTipRole) {
    if (!row.allocation.numLayers()) return allocationText(row);
    return QStringLiteral("%1\nexperts per layer (bottom first): %2")
        .arg(allocationText(row), QString::fromStdString(row.allocation.toList()));
  }
  return {};
}

// The Study and Tags columns: where the run comes from and what the user wrote on it.
QVariant RunsTableModel::labelData(const RunsRow& row, int column, int role) const {
  const RunRecord& r = row.record;
  if (column == StudyColumn) {
    const QString text = r.study == 0 ? QString()
                                      : QStringLiteral("%1 / %2").arg(
                                            row.study_name, QString::fromStdString(r.variant));
    if (role == Qt::DisplayRole || role == FilterRole) return text;
    if (role == SortRole) return text.toLower();
    if (role == Qt::ToolTipRole && r.study)
      return tr("study #%1 (%2), variant %3")
          .arg(r.study)
          .arg(row.study_name, QString::fromStdString(r.variant));
    return {};
  }
  QStringList tags;
  for (const std::string& t : r.tags) tags << QString::fromStdString(t);
  const QString note = QString::fromStdString(r.note);
  if (role == Qt::DisplayRole)
    return tags.join(QStringLiteral(", ")) +
           (note.isEmpty() ? QString() : QStringLiteral(" \u270E"));
  if (role == SortRole) return tags.join(QLatin1Char(',')).toLower();
  if (role == FilterRole) return tags.join(QLatin1Char(' ')) + QLatin1Char(' ') + note;
  if (role == Qt::ToolTipRole && (!tags.isEmpty() || !note.isEmpty()))
    return note.isEmpty() ? tags.join(QStringLiteral(", ")) : note;
  return {};
}

QVariant RunsTableModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
  switch (section) {
    case Name:
      return tr("Name");
    case Status:
      return tr("Status");
    case AllocationColumn:
      return tr("Allocation");
    case Model:
      return tr("Model");
    case BestScore:
      return tr("Best score");
    case Created:
      return tr("Created");
    case Steps:
      return tr("Steps");
    case StudyColumn:
      return tr("Study");
    case Tags:
      return tr("Tags");
    default:
      return {};
  }
}

void RunsTableModel::updateAnimation() {
  const bool any = std::any_of(m_rows.begin(), m_rows.end(), [](const RunsRow& r) {
    return r.record.status == RunStatus::Running;
  });
  if (any && !m_pulse->isActive()) m_pulse->start();
  if (!any) m_pulse->stop();
}

void RunsTableModel::advanceAnimation() {
  m_phase = (m_phase + 1) % 12;
  for (size_t r = 0; r < m_rows.size(); ++r)
    if (m_rows[r].record.status == RunStatus::Running)
      emit dataChanged(index(int(r), Status), index(int(r), Status), {Qt::DecorationRole});
}

}  // namespace mola::widgets
