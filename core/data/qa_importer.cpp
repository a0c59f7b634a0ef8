// SPDX-License-Identifier: GPL-3.0-or-later
// importQa: recognises a QA file's format by its content and hands it to that format's reader.
#include "data/qa_importer.h"

#include <algorithm>
#include <optional>
#include <stdexcept>

#include "data/qa_import_support.h"
#include "data/qa_json_formats.h"
#include "data/qa_tsv_formats.h"
#include "text.h"

namespace mola {

namespace {

using qa_import::Json;

// How many non-blank lines detection looks at for a recognisable JSONL row: a few malformed rows
// at the top should not hide the format of the rest (the reader then lists them as skipped).
constexpr size_t kDetectLines = 50;

std::string knownFormats() {
  std::string s;
  for (const std::string& f : qaFormats()) s += (s.empty() ? "" : ", ") + f;
  return s;
}

bool has(const Json& obj, const char* key) {
  return obj.is_object() && obj.contains(key);
}

// The JSONL format one record is in, if any.
std::optional<std::string> classifyRecord(const Json& row) {
  if (!row.is_object()) return std::nullopt;
  if (has(row, "goal") && has(row, "sol1") && has(row, "sol2")) return "piqa";
  if (has(row, "question") && has(row["question"], "stem"))
    return has(row, "fact1") ? "openbookqa_jsonl" : "commonsense_qa";
  if (has(row, "query") && has(row, "choices") && has(row, "gold")) return "flat_jsonl";
  const bool question =
      (has(row, "question") && row["question"].is_string()) || has(row, "question_stem");
  if (question && has(row, "choices") && has(row["choices"], "text")) return "arc_hf";
  return std::nullopt;
}

// problems.json: pid -> {question, choices, answer, ...}.
bool looksLikeScienceQa(const Json& doc) {
  if (!doc.is_object() || doc.empty()) return false;
  const Json& first = doc.begin().value();
  return has(first, "question") && has(first, "choices") && has(first, "answer");
}

std::string detectFromText(const std::filesystem::path& file, const std::string& text) {
  const std::vector<std::string> lines = qa_import::splitLines(text);
  size_t first = 0;
  while (first < lines.size() && trimWhitespace(lines[first]).empty()) ++first;
  if (first == lines.size()) throw std::runtime_error(file.string() + ": is empty");
  const std::string_view head = trimWhitespace(lines[first]);
  const std::string where = qa_import::place(file, first + 1);

  if (head.front() == '[' || head.front() == '{') {
    // A single JSON document (a JSON array of records, or ScienceQA's problems.json) spans the
    // file; JSONL has one per line.
    Json doc = Json::parse(text.begin(), text.end(), nullptr, false);
    if (doc.is_discarded() && text.size() >= 3 && text.compare(0, 3, "\xEF\xBB\xBF") == 0)
      doc = Json::parse(text.begin() + 3, text.end(), nullptr, false);
    if (!doc.is_discarded()) {
      if (looksLikeScienceQa(doc)) return "scienceqa";
      if (doc.is_array()) {
        if (!doc.empty())
          if (auto format = classifyRecord(doc.front())) return *format;
        throw std::runtime_error(where +
                                 ": a JSON array whose first record has none of the "
                                 "field sets of the known formats; give the format (one of " +
                                 knownFormats() + "), generic_jsonl with field names");
      }
    }
    size_t looked = 0;
    for (size_t i = first; i < lines.size() && looked < kDetectLines; ++i) {
      if (trimWhitespace(lines[i]).empty()) continue;
      ++looked;
      const Json row = Json::parse(lines[i], nullptr, false);
      if (row.is_discarded()) continue;
      if (auto format = classifyRecord(row)) return *format;
    }
    throw std::runtime_error(where + ": no JSON record among the first " + std::to_string(looked) +
                             " rows has the fields of a known format (question.stem + "
                             "answerKey, query + choices + gold, question + choices.text, "
                             "goal + sol1 + sol2, or ScienceQA's pid -> problem); give the "
                             "format, e.g. generic_jsonl with field names");
  }

  std::vector<std::string> names;
  for (std::string_view name : qa_import::splitTabs(head))
    names.push_back(qa_import::trimmed(name));
  auto named = [&](const char* n) {
    return std::find(names.begin(), names.end(), n) != names.end();
  };
  if (named("Question Stem") && named("Choices")) return "openbookqa_tsv";
  if (named("#1 String") && named("#2 String")) return "glue_mrpc";
  if (named("sentence1") && named("sentence2")) return "glue_rte";
  if (qa_import::looksLikeColaRow(head)) return "glue_cola";
  throw std::runtime_error(where + ": cannot tell the format: the line \"" +
                           std::string(head.substr(0, 60)) +
                           "\" is neither JSON nor a known TSV header or CoLA row; give the format "
                           "(one of " +
                           knownFormats() + ")");
}

}  // namespace

std::vector<std::string> qaFormats() {
  return {"commonsense_qa", "openbookqa_jsonl", "flat_jsonl",   "arc_hf",
          "openbookqa_tsv", "scienceqa",        "piqa",         "glue_mrpc",
          "glue_rte",       "glue_cola",        "generic_jsonl"};
}

std::string detectQaFormat(const std::filesystem::path& file) {
  return detectFromText(file, qa_import::readFile(file));
}

QaDataset importQa(const std::filesystem::path& file, const std::string& format) {
  QaImportOptions options;
  options.format = format;
  return importQa(file, options);
}

QaDataset importQa(const std::filesystem::path& file, const QaImportOptions& options) {
  using namespace qa_import;
  const std::string format = trimmed(options.format);
  if (!format.empty()) {
    const std::vector<std::string> known = qaFormats();
    if (std::find(known.begin(), known.end(), format) == known.end())
      throw std::invalid_argument("unknown QA format '" + format + "' (known: " + knownFormats() +
                                  ")");
  }
  const std::string text = readFile(file);
  if (trimWhitespace(text).empty()) throw std::runtime_error(file.string() + ": is empty");
  const std::string chosen = format.empty() ? detectFromText(file, text) : format;

  if (chosen == "commonsense_qa" || chosen == "openbookqa_jsonl")
    return readOfficialJsonl(file, text, chosen);
  if (chosen == "flat_jsonl") return readFlatJsonl(file, text);
  if (chosen == "arc_hf") return readArcHf(file, text);
  if (chosen == "openbookqa_tsv") return readOpenBookQaTsv(file, text);
  if (chosen == "scienceqa") return readScienceQa(file, text, options);
  if (chosen == "piqa") return readPiqa(file, text, options);
  if (chosen == "glue_mrpc") return readGlueMrpc(file, text);
  if (chosen == "glue_rte") return readGlueRte(file, text);
  if (chosen == "glue_cola") return readGlueCola(file, text);
  return readGenericJsonl(file, text, options.fields);
}

}  // namespace mola
