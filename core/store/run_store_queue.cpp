// SPDX-License-Identifier: GPL-3.0-or-later
// RunStore's studies, queue, notes and tags (schema version 3).
#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include "experiment/experiment_config.h"
#include "store/run_store.h"
#include "store/sqlite_support.h"
#include "text.h"

namespace mola {

using namespace store_detail;

namespace {

constexpr const char* kQueueColumns =
    "SELECT id, COALESCE(study, 0), variant, seed, name, config_json, allocation, model, state, "
    "COALESCE(run, 0), created_at FROM queue";

QueueState parseQueueState(const std::string& name) {
  if (name == "waiting") return QueueState::Waiting;
  if (name == "started") return QueueState::Started;
  if (name == "cancelled") return QueueState::Cancelled;
  throw SqliteFailure("unknown queue state '" + name + "'");
}

QueueItem readItem(const Statement& s) {
  QueueItem q;
  q.id = s.integer(0);
  q.study = s.integer(1);
  q.variant = s.text(2);
  q.seed = s.integer(3);
  q.name = s.text(4);
  q.config_json = s.text(5);
  q.allocation = s.text(6);
  q.model = s.text(7);
  q.state = parseQueueState(s.text(8));
  q.run = s.integer(9);
  q.created_at = s.text(10);
  // A started item whose run was deleted waits again.
  if (q.state == QueueState::Started && q.run == 0) q.state = QueueState::Waiting;
  return q;
}

StudyRecord readStudy(const Statement& s) {
  return {s.integer(0), s.text(1), s.text(2), s.text(3), s.text(4)};
}

constexpr const char* kStudyColumns =
    "SELECT id, name, created_at, spec_json, baseline FROM studies";

// The position after every item.
double endPosition(sqlite3* db) {
  Statement s(db, "SELECT COALESCE(MAX(position), 0) + 1 FROM queue");
  s.step();
  return s.real(0);
}

void insertItem(sqlite3* db, int64_t study, const QueuedRun& r, double position) {
  Statement s(db,
              "INSERT INTO queue (study, variant, seed, position, name, config_json, allocation, "
              "model, state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'waiting', ?)");
  if (study > 0) s.bindInt(1, study);
  s.bindText(2, r.variant)
      .bindInt(3, r.seed)
      .bindReal(4, position)
      .bindText(5, r.name)
      .bindText(6, r.config_json)
      .bindText(7, r.allocation)
      .bindText(8, r.model)
      .bindText(9, nowUtc());
  s.run();
}

std::string itemName(int64_t item) {
  return "queue item " + std::to_string(item);
}

}  // namespace

std::string primaryBenchmark(const std::vector<EvalScore>& scores, const std::string& evaluated) {
  for (const std::string& wanted : {evaluated, std::string(kMeanOfTasks)})
    for (const EvalScore& e : scores)
      if (!wanted.empty() && e.benchmark == wanted) return wanted;
  return scores.empty() ? std::string() : scores.front().benchmark;
}

std::string evaluatedBenchmarkOf(const RunRecord& run) {
  try {
    return evaluatedBenchmark(parseExperiment(run.config_json, "run " + std::to_string(run.id)));
  } catch (const std::exception&) {
    return {};  // an experiment this build cannot read: ranked by its scores alone
  }
}

bool runMatchesSearch(const RunRecord& run, const std::string& query) {
  const auto lower = [](std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  std::string haystack = run.name + "\n" + run.note + "\n" + run.variant + "\n" + run.allocation +
                         "\n" + run.model + "\n" + runStatusName(run.status);
  for (const std::string& t : run.tags) haystack += "\n" + t;
  haystack = lower(haystack);
  const std::string q = lower(query);
  for (size_t start = 0; start < q.size();) {
    const size_t end = std::min(q.find(' ', start), q.size());
    if (end > start && haystack.find(q.substr(start, end - start)) == std::string::npos)
      return false;
    start = end + 1;
  }
  return true;
}

std::string queueStateName(QueueState s) {
  switch (s) {
    case QueueState::Waiting:
      return "waiting";
    case QueueState::Started:
      return "started";
    case QueueState::Cancelled:
      return "cancelled";
  }
  return "waiting";
}

void RunStore::requireQueue(const std::string& what) const {
  if (m_schema < 3)
    throw StoreError(m_path.string() + ": " + what + ": the file has schema version " +
                     std::to_string(m_schema) +
                     ", from before studies and the queue; open it for writing to upgrade it");
}

void RunStore::setNote(int64_t run, const std::string& note) {
  requireQueue("setting a note");
  transaction(m_db, m_path, true, "setting the note of run " + std::to_string(run), [&] {
    Statement s(m_db, "UPDATE runs SET note = ? WHERE id = ?");
    s.bindText(1, note).bindInt(2, run).run();
    if (sqlite3_changes(m_db) == 0)
      throw StoreError(m_path.string() + ": no run with id " + std::to_string(run));
  });
}

void RunStore::setHost(int64_t run, const std::string& host) {
  transaction(m_db, m_path, true, "recording the hosts of run " + std::to_string(run), [&] {
    Statement s(m_db, "UPDATE runs SET host = ? WHERE id = ?");
    s.bindText(1, host).bindInt(2, run).run();
    if (sqlite3_changes(m_db) == 0)
      throw StoreError(m_path.string() + ": no run with id " + std::to_string(run));
  });
}

void RunStore::setTags(int64_t run, const std::vector<std::string>& tags) {
  requireQueue("setting tags");
  std::set<std::string> clean;
  for (const std::string& t : tags)
    if (std::string c(trimWhitespace(t)); !c.empty()) clean.insert(c);
  transaction(m_db, m_path, true, "setting the tags of run " + std::to_string(run), [&] {
    Statement exists(m_db, "SELECT 1 FROM runs WHERE id = ?");
    exists.bindInt(1, run);
    if (!exists.step())
      throw StoreError(m_path.string() + ": no run with id " + std::to_string(run));
    Statement del(m_db, "DELETE FROM tags WHERE run = ?");
    del.bindInt(1, run).run();
    Statement add(m_db, "INSERT INTO tags (run, tag) VALUES (?, ?)");
    for (const std::string& t : clean) add.bindInt(1, run).bindText(2, t).run();
  });
}

StudyAdded RunStore::addStudy(const std::string& name, const std::string& spec_json,
                              const std::string& baseline, const std::vector<QueuedRun>& runs) {
  requireQueue("adding study '" + name + "'");
  StudyAdded result;
  transaction(m_db, m_path, true, "adding study '" + name + "'", [&] {
    Statement find(m_db, "SELECT id FROM studies WHERE name = ?");
    find.bindText(1, name);
    if (find.step()) {
      result.id = find.integer(0);
      Statement u(m_db, "UPDATE studies SET spec_json = ?, baseline = ? WHERE id = ?");
      u.bindText(1, spec_json).bindText(2, baseline).bindInt(3, result.id).run();
    } else {
      Statement ins(
          m_db, "INSERT INTO studies (name, created_at, spec_json, baseline) VALUES (?, ?, ?, ?)");
      ins.bindText(1, name).bindText(2, nowUtc()).bindText(3, spec_json).bindText(4, baseline);
      ins.run();
      result.id = sqlite3_last_insert_rowid(m_db);
    }
    std::map<std::pair<std::string, int64_t>, std::string> have;  // (variant, seed) -> config
    Statement items(m_db, "SELECT variant, seed, config_json FROM queue WHERE study = ?");
    items.bindInt(1, result.id);
    while (items.step()) have[{items.text(0), items.integer(1)}] = items.text(2);
    double position = endPosition(m_db);
    for (const QueuedRun& r : runs) {
      const auto it = have.find({r.variant, r.seed});
      if (it == have.end()) {
        insertItem(m_db, result.id, r, position++);
        have[{r.variant, r.seed}] = r.config_json;
        ++result.added;
      } else if (it->second != r.config_json) {
        throw StoreError(
            m_path.string() + ": study '" + name + "' already has variant '" + r.variant +
            "' with seed " + std::to_string(r.seed) +
            " and another configuration; queue the variant again (mola study run FILE --rerun " +
            r.variant + ") or give the study another name");
      } else {
        ++result.existing;
      }
    }
  });
  return result;
}

std::vector<StudyRecord> RunStore::listStudies() const {
  std::vector<StudyRecord> out;
  if (m_schema < 3) return out;
  transaction(m_db, m_path, false, "listing studies", [&] {
    Statement s(m_db, (std::string(kStudyColumns) + " ORDER BY id").c_str());
    while (s.step()) out.push_back(readStudy(s));
  });
  return out;
}

StudyRecord RunStore::study(int64_t id) const {
  StudyRecord r;
  const auto missing = [&] {
    return StoreError(m_path.string() + ": no study with id " + std::to_string(id));
  };
  if (m_schema < 3) throw missing();
  transaction(m_db, m_path, false, "reading study " + std::to_string(id), [&] {
    Statement s(m_db, (std::string(kStudyColumns) + " WHERE id = ?").c_str());
    s.bindInt(1, id);
    if (!s.step()) throw missing();
    r = readStudy(s);
  });
  return r;
}

std::optional<StudyRecord> RunStore::findStudy(const std::string& name) const {
  std::optional<StudyRecord> r;
  if (m_schema < 3) return r;
  transaction(m_db, m_path, false, "reading study '" + name + "'", [&] {
    Statement s(m_db, (std::string(kStudyColumns) + " WHERE name = ?").c_str());
    s.bindText(1, name);
    if (s.step()) r = readStudy(s);
  });
  return r;
}

int64_t RunStore::enqueue(const QueuedRun& run) {
  requireQueue("queueing run '" + run.name + "'");
  int64_t id = 0;
  transaction(m_db, m_path, true, "queueing run '" + run.name + "'", [&] {
    insertItem(m_db, 0, run, endPosition(m_db));
    id = sqlite3_last_insert_rowid(m_db);
  });
  return id;
}

std::vector<QueueItem> RunStore::queueItems(int64_t study) const {
  std::vector<QueueItem> out;
  if (m_schema < 3) return out;
  transaction(m_db, m_path, false, "reading the queue", [&] {
    Statement s(m_db,
                (std::string(kQueueColumns) +
                 (study > 0 ? " WHERE study = ? ORDER BY position, id" : " ORDER BY position, id"))
                    .c_str());
    if (study > 0) s.bindInt(1, study);
    while (s.step()) out.push_back(readItem(s));
  });
  return out;
}

std::optional<std::pair<int64_t, int64_t>> RunStore::startNextQueued(int64_t study) {
  requireQueue("starting a queued run");
  int64_t item = 0;
  const std::optional<int64_t> run = createRunIn(
      [&]() -> std::optional<NewRun> {
        const std::string waiting =
            " WHERE (state = 'waiting' OR (state = 'started' AND run IS NULL))";
        Statement s(m_db, (std::string(kQueueColumns) + waiting +
                           (study > 0 ? " AND study = ?" : "") + " ORDER BY position, id LIMIT 1")
                              .c_str());
        if (study > 0) s.bindInt(1, study);
        if (!s.step()) return std::nullopt;
        const QueueItem q = readItem(s);
        item = q.id;
        return NewRun{q.name, q.config_json, q.allocation, q.model};
      },
      [&](int64_t id) {
        Statement u(m_db, "UPDATE queue SET state = 'started', run = ? WHERE id = ?");
        u.bindInt(1, id).bindInt(2, item).run();
      });
  if (!run) return std::nullopt;
  return std::make_pair(item, *run);
}

void RunStore::cancelQueued(int64_t item) {
  requireQueue("cancelling " + itemName(item));
  transaction(m_db, m_path, true, "cancelling " + itemName(item), [&] {
    Statement s(m_db, "SELECT state, run FROM queue WHERE id = ?");
    s.bindInt(1, item);
    if (!s.step()) throw StoreError(m_path.string() + ": no " + itemName(item));
    if (s.text(0) == "started" && !s.isNull(1))
      throw StoreError(m_path.string() + ": " + itemName(item) + " has started as run " +
                       std::to_string(s.integer(1)) + "; stop that run instead");
    s.reset();
    Statement u(m_db, "UPDATE queue SET state = 'cancelled' WHERE id = ?");
    u.bindInt(1, item).run();
  });
}

void RunStore::moveQueued(int64_t item, int64_t before) {
  requireQueue("moving " + itemName(item));
  transaction(m_db, m_path, true, "moving " + itemName(item), [&] {
    const auto position = [&](int64_t id) {
      Statement s(m_db, "SELECT position, state FROM queue WHERE id = ?");
      s.bindInt(1, id);
      if (!s.step()) throw StoreError(m_path.string() + ": no " + itemName(id));
      if (s.text(1) != "waiting")
        throw StoreError(m_path.string() + ": " + itemName(id) + " is " + s.text(1) +
                         ", not waiting");
      return s.real(0);
    };
    position(item);
    double target = 0;
    if (before > 0 && before != item) {
      const double next = position(before);
      // Halfway between the item before `before` and `before` itself.
      Statement prev(m_db, "SELECT MAX(position) FROM queue WHERE position < ? AND id != ?");
      prev.bindReal(1, next).bindInt(2, item);
      prev.step();
      target = prev.isNull(0) ? next - 1 : (prev.real(0) + next) / 2;
    } else {
      target = endPosition(m_db);
    }
    Statement u(m_db, "UPDATE queue SET position = ? WHERE id = ?");
    u.bindReal(1, target).bindInt(2, item).run();
  });
}

int RunStore::removeStudyVariant(int64_t study, const std::string& variant) {
  requireQueue("removing a study's variant");
  std::vector<QueueItem> items;
  for (const QueueItem& q : queueItems(study))
    if (q.variant == variant) items.push_back(q);
  for (const QueueItem& q : items)
    if (q.run > 0) deleteRun(q.run);
  transaction(m_db, m_path, true,
              "removing variant '" + variant + "' of study " + std::to_string(study), [&] {
                Statement del(m_db, "DELETE FROM queue WHERE study = ? AND variant = ?");
                del.bindInt(1, study).bindText(2, variant).run();
              });
  return static_cast<int>(items.size());
}

}  // namespace mola
