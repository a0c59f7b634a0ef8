// SPDX-License-Identifier: GPL-3.0-or-later
// Helpers shared by the QA format readers: file reading, row errors, JSON field access (internal).
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "data/qa_record.h"

namespace mola::qa_import {

using Json = nlohmann::json;

// One row that cannot be used; the reader's caller adds the file and line.
struct RowError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// "path:line" (or just "path" when line is 0), as every message writes a place.
std::string place(const std::filesystem::path& file, size_t line);

// The whole file; throws std::runtime_error when it is missing or unreadable.
std::string readFile(const std::filesystem::path& file);

// The lines of `text` without their line ends ("\n" or "\r\n") and without a UTF-8 BOM at the
// start; a final line end does not start another line.
std::vector<std::string> splitLines(std::string_view text);
std::vector<std::string_view> splitTabs(std::string_view line);
std::string trimmed(std::string_view s);

// Collects the records and problems of one file and applies the checks every format shares.
class RecordSink {
 public:
  RecordSink(std::filesystem::path file, std::string format);

  // Adds `record` (after trimming its text) when it is valid; otherwise records why not.
  // `label` prefixes the reason where the line says nothing ("record 3: ", "pid 17: ").
  void add(QaRecord record, size_t line, std::string_view label = {});
  void skip(size_t line, const std::string& reason, std::string_view label = {});
  // Runs `read_row`, adding its record; a RowError or JSON error becomes a skipped row.
  void addRow(size_t line, const std::function<QaRecord()>& read_row, std::string_view label = {});
  // Rows left out on purpose, as one counted summary (image questions): QaDataset::notes.
  void note(const std::string& reason);

  size_t rows() const { return m_rows; }
  const std::filesystem::path& file() const { return m_file; }

  // The dataset; throws std::runtime_error when no row, or fewer rows than were skipped, could
  // be used, naming the first problem.
  QaDataset finish();

 private:
  std::filesystem::path m_file;
  QaDataset m_dataset;
  size_t m_rows = 0;           // rows seen, used or not
  size_t m_bad_rows = 0;       // rows skipped (notes are not rows)
  size_t m_first_problem = 0;  // index in skipped of the first skipped row
};

// The JSON objects of a JSONL file, or of a file holding one JSON array: calls `row(value, line)`
// for each (line 0 for array elements, whose reasons are then prefixed "record N: "); blank
// lines are not rows; a line that is not JSON is a skipped row.
void forEachJsonRow(std::string_view text, RecordSink& sink,
                    const std::function<QaRecord(const Json&)>& row);

// `obj`'s member at a dotted `path` ("question.stem"), or nullptr when any step is missing.
const Json* findField(const Json& obj, std::string_view path);
// Throw RowError "field 'path': ..." when the member is missing or of the wrong type.
const Json& requireField(const Json& obj, std::string_view path);
std::string requireString(const Json& obj, std::string_view path);
std::vector<std::string> requireStringArray(const Json& obj, std::string_view path);
// A whole number (2.0 counts as 2).
long long requireInteger(const Json& obj, std::string_view path);
// A string member, or "" when it is absent or null.
std::string optionalString(const Json& obj, std::string_view path);
// "string", "number", ... for messages.
std::string jsonTypeName(const Json& value);

// The 0-based index of `key` among `labels` (exact match); when absent, a single letter A..Z or
// a number 1..N by its position. Throws RowError naming `field` when it fits none of them.
int answerFromKey(const std::string& key, const std::vector<std::string>& labels,
                  std::string_view field);

}  // namespace mola::qa_import
