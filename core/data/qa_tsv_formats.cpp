// SPDX-License-Identifier: GPL-3.0-or-later
// Readers of the tab-separated QA formats: OpenBookQA TSV and GLUE MRPC, RTE and CoLA as 2-choice
// questions.
#include "data/qa_tsv_formats.h"

#include <algorithm>
#include <functional>
#include <optional>

#include "data/qa_import_support.h"
#include "text.h"

namespace mola::qa_import {

namespace {

// The header row of a TSV file and where its columns are.
class TsvHeader {
 public:
  TsvHeader(const std::filesystem::path& file, const std::vector<std::string>& lines)
      : m_file(file) {
    while (m_line < lines.size() && trimWhitespace(lines[m_line]).empty()) ++m_line;
    if (m_line == lines.size()) throw std::runtime_error(file.string() + ": holds no records");
    for (std::string_view name : splitTabs(lines[m_line])) m_names.push_back(trimmed(name));
    ++m_line;  // 1-based from here on
  }

  std::optional<size_t> find(std::string_view name) const {
    auto it = std::find(m_names.begin(), m_names.end(), name);
    if (it == m_names.end()) return std::nullopt;
    return static_cast<size_t>(it - m_names.begin());
  }
  // Throws, naming file:line and the column, when the header lacks it.
  size_t require(std::string_view name, std::string_view why = "") const {
    if (auto at = find(name)) return *at;
    std::string have;
    for (const std::string& n : m_names) have += (have.empty() ? "'" : ", '") + n + "'";
    throw std::runtime_error(place(m_file, m_line) + ": the header has no column '" +
                             std::string(name) + "'" + std::string(why) + " (it has " + have + ")");
  }
  size_t columns() const { return m_names.size(); }
  size_t line() const { return m_line; }

 private:
  std::filesystem::path m_file;
  std::vector<std::string> m_names;
  size_t m_line = 0;
};

// Calls `row(fields)` for every non-blank line after `first_line` (0-based index of the first
// data line); a line with the wrong number of fields is a skipped row.
void forEachTsvRow(const std::vector<std::string>& lines, size_t first_line, size_t columns,
                   RecordSink& sink,
                   const std::function<QaRecord(const std::vector<std::string_view>&)>& row) {
  for (size_t i = first_line; i < lines.size(); ++i) {
    if (trimWhitespace(lines[i]).empty()) continue;
    const std::vector<std::string_view> fields = splitTabs(lines[i]);
    if (fields.size() != columns) {
      sink.skip(i + 1, "expected " + std::to_string(columns) + " tab-separated fields, found " +
                           std::to_string(fields.size()));
      continue;
    }
    sink.addRow(i + 1, [&] { return row(fields); });
  }
}

// "0"/"1" in a GLUE label column, as a choice of [no, yes].
int binaryLabel(std::string_view value, std::string_view column) {
  const std::string v = trimmed(value);
  if (v == "0") return 0;
  if (v == "1") return 1;
  throw RowError("field '" + std::string(column) + "': '" + v + "' is not 0 or 1");
}

const std::vector<std::string> kNoYes = {"no", "yes"};

}  // namespace

std::vector<std::string> splitLetteredChoices(std::string_view text) {
  text = trimWhitespace(text);
  if (text.substr(0, 3) != "(A)")
    throw RowError("field 'Choices': expected \"(A) ... (B) ...\", got \"" +
                   std::string(text.substr(0, 40)) + "\"");
  std::vector<std::string> choices;
  size_t start = 3;  // of the current choice's text
  for (char letter = 'B'; letter <= 'Z'; ++letter) {
    const std::string marker = std::string("(") + letter + ")";
    // The marker counts only as a word of its own: " (B) " or " (B)" at the end.
    size_t at = start;
    while ((at = text.find(marker, at)) != std::string_view::npos) {
      const bool space_before = at == start || text[at - 1] == ' ';
      const bool space_after = at + 3 == text.size() || text[at + 3] == ' ';
      if (space_before && space_after) break;
      ++at;
    }
    if (at == std::string_view::npos) break;
    choices.push_back(trimmed(text.substr(start, at - start)));
    start = at + 3;
  }
  choices.push_back(trimmed(text.substr(start)));
  if (choices.size() < 2)
    throw RowError("field 'Choices': found only choice (A) in \"" +
                   std::string(text.substr(0, 60)) + "\"");
  return choices;
}

bool looksLikeColaRow(std::string_view line) {
  const std::vector<std::string_view> f = splitTabs(line);
  if (f.size() != 4) return false;
  const std::string_view source = trimWhitespace(f[0]);
  const std::string_view label = trimWhitespace(f[1]);
  const std::string_view mark = trimWhitespace(f[2]);
  return !source.empty() && source.find(' ') == std::string_view::npos &&
         (label == "0" || label == "1") &&
         std::all_of(mark.begin(), mark.end(), [](char c) { return c == '*' || c == '?'; }) &&
         !trimWhitespace(f[3]).empty();
}

QaDataset readOpenBookQaTsv(const std::filesystem::path& file, const std::string& text) {
  const std::vector<std::string> lines = splitLines(text);
  const TsvHeader header(file, lines);
  const size_t stem = header.require("Question Stem");
  const size_t choices = header.require("Choices");
  const size_t key = header.require("Answer Key", " (an unlabelled test file?)");
  const std::optional<size_t> id = header.find("ID");
  RecordSink sink(file, "openbookqa_tsv");
  forEachTsvRow(lines, header.line(), header.columns(), sink, [&](const auto& f) {
    QaRecord r;
    if (id) r.id = trimmed(f[*id]);
    r.question = trimmed(f[stem]);
    r.choices = splitLetteredChoices(f[choices]);
    std::vector<std::string> letters;
    for (size_t i = 0; i < r.choices.size(); ++i) letters.emplace_back(1, char('A' + i));
    r.answer = answerFromKey(std::string(f[key]), letters, "Answer Key");
    return r;
  });
  return sink.finish();
}

QaDataset readGlueMrpc(const std::filesystem::path& file, const std::string& text) {
  const std::vector<std::string> lines = splitLines(text);
  const TsvHeader header(file, lines);
  const size_t quality = header.require("Quality", " (an unlabelled test file?)");
  const size_t first = header.require("#1 String");
  const size_t second = header.require("#2 String");
  const std::optional<size_t> id1 = header.find("#1 ID");
  const std::optional<size_t> id2 = header.find("#2 ID");
  RecordSink sink(file, "glue_mrpc");
  forEachTsvRow(lines, header.line(), header.columns(), sink, [&](const auto& f) {
    QaRecord r;
    if (id1 && id2) r.id = trimmed(f[*id1]) + "-" + trimmed(f[*id2]);
    r.context = "Sentence 1: " + trimmed(f[first]) + "\nSentence 2: " + trimmed(f[second]);
    r.question = "Do sentence 1 and sentence 2 mean the same thing?";
    r.choices = kNoYes;
    r.answer = binaryLabel(f[quality], "Quality");
    return r;
  });
  return sink.finish();
}

QaDataset readGlueRte(const std::filesystem::path& file, const std::string& text) {
  const std::vector<std::string> lines = splitLines(text);
  const TsvHeader header(file, lines);
  const size_t premise = header.require("sentence1");
  const size_t hypothesis = header.require("sentence2");
  const size_t label = header.require("label", " (an unlabelled test file?)");
  const std::optional<size_t> index = header.find("index");
  RecordSink sink(file, "glue_rte");
  forEachTsvRow(lines, header.line(), header.columns(), sink, [&](const auto& f) {
    QaRecord r;
    if (index) r.id = trimmed(f[*index]);
    r.context = "Premise: " + trimmed(f[premise]) + "\nHypothesis: " + trimmed(f[hypothesis]);
    r.question = "Does the premise entail the hypothesis?";
    r.choices = kNoYes;
    const std::string value = trimmed(f[label]);
    // WNLI, in the same layout, writes 1 for entailment.
    if (value == "entailment" || value == "1")
      r.answer = 1;
    else if (value == "not_entailment" || value == "0")
      r.answer = 0;
    else
      throw RowError("field 'label': '" + value + "' is not entailment or not_entailment");
    return r;
  });
  return sink.finish();
}

QaDataset readGlueCola(const std::filesystem::path& file, const std::string& text) {
  const std::vector<std::string> lines = splitLines(text);
  RecordSink sink(file, "glue_cola");
  forEachTsvRow(lines, 0, 4, sink, [&](const auto& f) {
    QaRecord r;
    r.context = trimmed(f[3]);
    if (r.context.empty()) throw RowError("field 'sentence' (column 4) is empty");
    r.question = "Is this sentence grammatically acceptable?";
    r.choices = kNoYes;
    r.answer = binaryLabel(f[1], "label (column 2)");
    return r;
  });
  return sink.finish();
}

}  // namespace mola::qa_import
