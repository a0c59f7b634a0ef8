// SPDX-License-Identifier: GPL-3.0-or-later
// File reading, row bookkeeping and JSON field access shared by the QA format readers.
#include "data/qa_import_support.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <sstream>

#include "text.h"

namespace mola::qa_import {

namespace {

// nlohmann's messages start with "[json.exception.parse_error.101] "; users need only the rest.
std::string jsonMessage(const std::exception& e) {
  std::string msg = e.what();
  if (msg.rfind("[json.exception.", 0) == 0) {
    size_t close = msg.find("] ");
    if (close != std::string::npos) msg.erase(0, close + 2);
  }
  return msg;
}

// In a JSONL row nlohmann counts lines within the row, so "line 1, " says nothing useful.
std::string rowJsonMessage(const std::exception& e) {
  std::string msg = jsonMessage(e);
  const std::string noise = "at line 1, ";
  if (size_t at = msg.find(noise); at != std::string::npos) msg.replace(at, noise.size(), "at ");
  return msg;
}

std::string joinLabels(const std::vector<std::string>& labels) {
  std::string s;
  for (size_t i = 0; i < labels.size(); ++i) s += (i ? ", " : "") + labels[i];
  return s;
}

}  // namespace

std::string place(const std::filesystem::path& file, size_t line) {
  return line ? file.string() + ":" + std::to_string(line) : file.string();
}

std::string readFile(const std::filesystem::path& file) {
  return readWholeFile(file, "a data file");
}

std::vector<std::string> splitLines(std::string_view text) {
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  std::vector<std::string> lines;
  while (!text.empty()) {
    size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.emplace_back(line);
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return lines;
}

std::vector<std::string_view> splitTabs(std::string_view line) {
  std::vector<std::string_view> fields;
  while (true) {
    size_t at = line.find('\t');
    fields.push_back(line.substr(0, at));
    if (at == std::string_view::npos) return fields;
    line.remove_prefix(at + 1);
  }
}

std::string trimmed(std::string_view s) {
  return std::string(trimWhitespace(s));
}

RecordSink::RecordSink(std::filesystem::path file, std::string format) : m_file(std::move(file)) {
  m_dataset.format = std::move(format);
}

void RecordSink::add(QaRecord record, size_t line, std::string_view label) {
  record.id = trimmed(record.id);
  record.question = trimmed(record.question);
  record.context = trimmed(record.context);
  for (std::string& choice : record.choices) choice = trimmed(choice);
  const size_t n = record.choices.size();
  if (record.question.empty()) return skip(line, "the question is empty", label);
  if (n < QaRecord::kMinChoices || n > QaRecord::kMaxChoices)
    return skip(line,
                std::to_string(n) + " choices; " + std::to_string(QaRecord::kMinChoices) + " to " +
                    std::to_string(QaRecord::kMaxChoices) + " are allowed",
                label);
  if (record.answer < 0 || static_cast<size_t>(record.answer) >= n)
    return skip(line,
                "answer " + std::to_string(record.answer) + " is out of range for " +
                    std::to_string(n) + " choices (0-based)",
                label);
  ++m_rows;
  m_dataset.records.push_back(std::move(record));
}

void RecordSink::skip(size_t line, const std::string& reason, std::string_view label) {
  ++m_rows;
  if (m_bad_rows++ == 0) m_first_problem = m_dataset.skipped.size();
  m_dataset.skipped.push_back({m_file.string(), line, std::string(label) + reason});
}

void RecordSink::addRow(size_t line, const std::function<QaRecord()>& read_row,
                        std::string_view label) {
  QaRecord record;
  try {
    record = read_row();
  } catch (const RowError& e) {
    return skip(line, e.what(), label);
  } catch (const Json::exception& e) {
    return skip(line, jsonMessage(e), label);
  }
  add(std::move(record), line, label);
}

void RecordSink::note(const std::string& reason) {
  m_dataset.notes.push_back(reason);
}

QaDataset RecordSink::finish() {
  const size_t used = m_dataset.records.size();
  if (m_rows == 0) throw std::runtime_error(m_file.string() + ": holds no records");
  if (used == 0 || m_bad_rows > used) {
    const ImportProblem* first =
        m_first_problem < m_dataset.skipped.size() ? &m_dataset.skipped[m_first_problem] : nullptr;
    std::string what = used == 0 ? "no usable record among " + std::to_string(m_rows) + " rows"
                                 : "only " + std::to_string(used) + " of " +
                                       std::to_string(m_rows) + " rows are usable";
    std::string msg = m_file.string() + ": " + what + " as format '" + m_dataset.format + "'";
    if (first)
      msg += "; the first problem: " + place(first->file, first->line) + ": " + first->reason;
    throw std::runtime_error(msg);
  }
  return std::move(m_dataset);
}

void forEachJsonRow(std::string_view text, RecordSink& sink,
                    const std::function<QaRecord(const Json&)>& row) {
  std::string_view body = trimWhitespace(text);
  if (body.substr(0, 3) == "\xEF\xBB\xBF") body = trimWhitespace(body.substr(3));
  // When the whole file does not parse as one array, it is JSONL whose first row happens to be
  // an array (or broken JSON): the lines then report their own problems.
  const Json all = !body.empty() && body.front() == '['
                       ? Json::parse(body.begin(), body.end(), nullptr, false)
                       : Json(Json::value_t::discarded);
  if (all.is_array()) {
    for (size_t i = 0; i < all.size(); ++i) {
      sink.addRow(
          0,
          [&]() -> QaRecord {
            if (!all[i].is_object())
              throw RowError("expected a JSON object, got " + jsonTypeName(all[i]));
            return row(all[i]);
          },
          "record " + std::to_string(i + 1) + ": ");
    }
    return;
  }
  const std::vector<std::string> lines = splitLines(text);
  for (size_t i = 0; i < lines.size(); ++i) {
    if (trimWhitespace(lines[i]).empty()) continue;
    Json value;
    try {
      value = Json::parse(lines[i]);
    } catch (const Json::exception& e) {
      sink.skip(i + 1, "not valid JSON: " + rowJsonMessage(e));
      continue;
    }
    sink.addRow(i + 1, [&]() -> QaRecord {
      if (!value.is_object()) throw RowError("expected a JSON object, got " + jsonTypeName(value));
      return row(value);
    });
  }
}

std::string jsonTypeName(const Json& value) {
  if (value.is_number_integer()) return "an integer";
  if (value.is_number()) return "a number";
  if (value.is_string()) return "a string";
  if (value.is_array()) return "an array";
  if (value.is_object()) return "an object";
  if (value.is_boolean()) return "a boolean";
  return "null";
}

const Json* findField(const Json& obj, std::string_view path) {
  const Json* at = &obj;
  while (true) {
    size_t dot = path.find('.');
    const std::string key(path.substr(0, dot));
    if (!at->is_object()) return nullptr;
    auto it = at->find(key);
    if (it == at->end()) return nullptr;
    at = &*it;
    if (dot == std::string_view::npos) return at;
    path.remove_prefix(dot + 1);
  }
}

const Json& requireField(const Json& obj, std::string_view path) {
  const Json* value = findField(obj, path);
  if (!value || value->is_null()) throw RowError("field '" + std::string(path) + "' is missing");
  return *value;
}

std::string requireString(const Json& obj, std::string_view path) {
  const Json& value = requireField(obj, path);
  if (!value.is_string())
    throw RowError("field '" + std::string(path) + "': expected a string, got " +
                   jsonTypeName(value));
  return value.get<std::string>();
}

std::vector<std::string> requireStringArray(const Json& obj, std::string_view path) {
  const Json& value = requireField(obj, path);
  if (!value.is_array())
    throw RowError("field '" + std::string(path) + "': expected an array of strings, got " +
                   jsonTypeName(value));
  std::vector<std::string> out;
  for (size_t i = 0; i < value.size(); ++i) {
    if (!value[i].is_string())
      throw RowError("field '" + std::string(path) + "' item " + std::to_string(i) +
                     ": expected a string, got " + jsonTypeName(value[i]));
    out.push_back(value[i].get<std::string>());
  }
  return out;
}

long long requireInteger(const Json& obj, std::string_view path) {
  const Json& value = requireField(obj, path);
  if (value.is_number_integer()) return value.get<long long>();
  // 2.0 is as good as 2; JSON writers in some languages emit whole numbers that way.
  if (value.is_number_float()) {
    const double d = value.get<double>();
    if (std::abs(d) < 1e15 && d == std::floor(d)) return static_cast<long long>(d);
  }
  throw RowError("field '" + std::string(path) + "': expected an integer, got " +
                 (value.is_string() ? "the string \"" + value.get<std::string>() + "\""
                                    : jsonTypeName(value)));
}

std::string optionalString(const Json& obj, std::string_view path) {
  const Json* value = findField(obj, path);
  if (!value || value->is_null()) return "";
  if (!value->is_string())
    throw RowError("field '" + std::string(path) + "': expected a string, got " +
                   jsonTypeName(*value));
  return value->get<std::string>();
}

int answerFromKey(const std::string& raw_key, const std::vector<std::string>& labels,
                  std::string_view field) {
  const std::string key = trimmed(raw_key);
  for (size_t i = 0; i < labels.size(); ++i)
    if (trimmed(labels[i]) == key) return static_cast<int>(i);
  long index = -1;
  if (key.size() == 1 && std::isalpha(static_cast<unsigned char>(key[0])))
    index = std::toupper(static_cast<unsigned char>(key[0])) - 'A';
  else if (!key.empty() && key.size() <= 3 &&
           std::all_of(key.begin(), key.end(), [](char c) { return c >= '0' && c <= '9'; }))
    index = std::stol(key) - 1;
  if (index < 0 || static_cast<size_t>(index) >= labels.size())
    throw RowError("field '" + std::string(field) + "': '" + key + "' names none of the " +
                   std::to_string(labels.size()) + " choices (labels " + joinLabels(labels) + ")");
  return static_cast<int>(index);
}

}  // namespace mola::qa_import
