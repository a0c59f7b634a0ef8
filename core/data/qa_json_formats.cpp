// SPDX-License-Identifier: GPL-3.0-or-later
// Readers of the JSON QA formats: official CSQA/ARC/OBQA JSONL, flat JSONL, ARC HF, ScienceQA,
// PIQA, and JSONL with a field mapping.
#include "data/qa_json_formats.h"

#include <algorithm>
#include <cctype>

#include "data/qa_import_support.h"
#include "text.h"

namespace mola::qa_import {

namespace {

// Ids are strings in most releases and integers in a few.
std::string optionalId(const Json& row, std::string_view path) {
  const Json* value = findField(row, path);
  if (!value || value->is_null()) return "";
  if (value->is_string()) return value->get<std::string>();
  if (value->is_number_integer()) return std::to_string(value->get<long long>());
  throw RowError("field '" + std::string(path) + "': expected a string or an integer, got " +
                 jsonTypeName(*value));
}

// The integer field `path` of `row` as a 0-based index into `choices` choices.
int choiceIndex(const Json& row, const std::string& path, size_t choices) {
  const long long index = requireInteger(row, path);
  if (index < 0 || index >= static_cast<long long>(choices))
    throw RowError("field '" + path + "': " + std::to_string(index) + " is out of range for " +
                   std::to_string(choices) + " choices (0-based)");
  return static_cast<int>(index);
}

bool isDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// ScienceQA pids are numbers written as strings: "2" comes before "10".
bool naturalLess(const std::string& a, const std::string& b) {
  if (isDigits(a) && isDigits(b) && a.size() != b.size()) return a.size() < b.size();
  return a < b;
}

Json parseWholeFile(const std::filesystem::path& file, const std::string& text) {
  std::string_view body = text;
  if (body.substr(0, 3) == "\xEF\xBB\xBF") body.remove_prefix(3);
  try {
    return Json::parse(body);
  } catch (const Json::exception& e) {
    std::string msg = e.what();
    if (size_t close = msg.find("] "); msg.rfind("[json.", 0) == 0 && close != std::string::npos)
      msg.erase(0, close + 2);
    throw std::runtime_error(file.string() + ": not valid JSON: " + msg);
  }
}

}  // namespace

std::string stripPromptWrapping(const std::string& query) {
  std::string_view q = trimWhitespace(query);
  constexpr std::string_view kQuestion = "Question:";
  constexpr std::string_view kAnswer = "Answer:";
  if (q.substr(0, kQuestion.size()) != kQuestion) return std::string(q);
  q.remove_prefix(kQuestion.size());
  q = trimWhitespace(q);
  if (q.size() >= kAnswer.size() && q.substr(q.size() - kAnswer.size()) == kAnswer)
    q.remove_suffix(kAnswer.size());
  return std::string(trimWhitespace(q));
}

QaDataset readOfficialJsonl(const std::filesystem::path& file, const std::string& text,
                            const std::string& format) {
  RecordSink sink(file, format);
  forEachJsonRow(text, sink, [](const Json& row) {
    QaRecord r;
    r.id = optionalId(row, "id");
    r.question = requireString(row, "question.stem");
    const Json& choices = requireField(row, "question.choices");
    if (!choices.is_array())
      throw RowError("field 'question.choices': expected an array, got " + jsonTypeName(choices));
    std::vector<std::string> labels;
    for (size_t i = 0; i < choices.size(); ++i) {
      const std::string where = "question.choices[" + std::to_string(i) + "]";
      if (!choices[i].is_object())
        throw RowError("field '" + where + "': expected an object {label, text}, got " +
                       jsonTypeName(choices[i]));
      try {
        labels.push_back(requireString(choices[i], "label"));
        r.choices.push_back(requireString(choices[i], "text"));
      } catch (const RowError& e) {
        // "field 'label' is missing" would not say which choice.
        throw RowError(where + ": " + e.what());
      }
    }
    r.answer = answerFromKey(requireString(row, "answerKey"), labels, "answerKey");
    r.context = optionalString(row, "fact1");
    return r;
  });
  return sink.finish();
}

QaDataset readFlatJsonl(const std::filesystem::path& file, const std::string& text) {
  RecordSink sink(file, "flat_jsonl");
  forEachJsonRow(text, sink, [](const Json& row) {
    QaRecord r;
    r.question = stripPromptWrapping(requireString(row, "query"));
    r.choices = requireStringArray(row, "choices");
    r.answer = choiceIndex(row, "gold", r.choices.size());
    r.id = optionalId(row, "id");
    return r;
  });
  return sink.finish();
}

QaDataset readArcHf(const std::filesystem::path& file, const std::string& text) {
  RecordSink sink(file, "arc_hf");
  forEachJsonRow(text, sink, [](const Json& row) {
    QaRecord r;
    r.id = optionalId(row, "id");
    // OpenBookQA on the Hub names the question "question_stem".
    r.question = findField(row, "question") || !findField(row, "question_stem")
                     ? requireString(row, "question")
                     : requireString(row, "question_stem");
    r.choices = requireStringArray(row, "choices.text");
    const std::vector<std::string> labels = requireStringArray(row, "choices.label");
    if (labels.size() != r.choices.size())
      throw RowError("field 'choices.label' has " + std::to_string(labels.size()) +
                     " labels but 'choices.text' has " + std::to_string(r.choices.size()) +
                     " texts");
    r.answer = answerFromKey(requireString(row, "answerKey"), labels, "answerKey");
    r.context = optionalString(row, "fact1");
    return r;
  });
  return sink.finish();
}

namespace {

// The ScienceQA pids to read, in order: the split's list in pid_splits.json beside the file when
// there is one, else every problem (of the split its field names) in natural order.
std::vector<std::string> scienceQaPids(const std::filesystem::path& file, const Json& problems,
                                       const QaImportOptions& options) {
  std::vector<std::string> pids;
  const std::filesystem::path splits_file = file.parent_path() / "pid_splits.json";
  if (!options.split.empty() && std::filesystem::exists(splits_file)) {
    const Json splits = parseWholeFile(splits_file, readFile(splits_file));
    const Json* list = splits.is_object() ? findField(splits, options.split) : nullptr;
    if (!list || !list->is_array()) {
      std::string known;
      if (splits.is_object())
        for (const auto& [name, value] : splits.items())
          known += (known.empty() ? "" : ", ") + name;
      throw std::runtime_error(splits_file.string() + ": has no split '" + options.split +
                               "' (it has: " + known + ")");
    }
    for (const Json& pid : *list)
      pids.push_back(pid.is_string() ? pid.get<std::string>() : pid.dump());
  } else {
    for (const auto& [pid, problem] : problems.items()) {
      if (!options.split.empty()) {
        const Json* split = problem.is_object() ? findField(problem, "split") : nullptr;
        if (!split || !split->is_string() || split->get<std::string>() != options.split) continue;
      }
      pids.push_back(pid);
    }
    std::sort(pids.begin(), pids.end(), naturalLess);
    if (pids.empty() && !options.split.empty())
      throw std::runtime_error(file.string() + ": no problem has split '" + options.split +
                               "' and there is no " + splits_file.filename().string() +
                               " beside it");
  }
  return pids;
}

// One ScienceQA problem (text-only) as a record.
QaRecord scienceQaRecord(const std::string& pid, const Json& problem,
                         const QaImportOptions& options) {
  if (!problem.is_object()) throw RowError("expected a JSON object, got " + jsonTypeName(problem));
  QaRecord r;
  r.id = pid;
  r.question = requireString(problem, "question");
  r.choices = requireStringArray(problem, "choices");
  r.answer = choiceIndex(problem, "answer", r.choices.size());
  r.context = trimmed(optionalString(problem, "hint"));
  if (options.scienceqa_lecture) {
    const std::string lecture = trimmed(optionalString(problem, "lecture"));
    if (!lecture.empty()) r.context += (r.context.empty() ? "" : "\n") + lecture;
  }
  return r;
}

}  // namespace

QaDataset readScienceQa(const std::filesystem::path& file, const std::string& text,
                        const QaImportOptions& options) {
  const Json problems = parseWholeFile(file, text);
  if (!problems.is_object())
    throw std::runtime_error(file.string() + ": expected one JSON object of pid -> problem, got " +
                             jsonTypeName(problems));

  const std::vector<std::string> pids = scienceQaPids(file, problems, options);
  const std::filesystem::path splits_file = file.parent_path() / "pid_splits.json";

  RecordSink sink(file, "scienceqa");
  size_t with_image = 0;
  for (const std::string& pid : pids) {
    const std::string label = "pid " + pid + ": ";
    auto it = problems.find(pid);
    if (it == problems.end()) {
      sink.skip(0,
                "listed in " + splits_file.filename().string() + " split '" + options.split +
                    "' but absent from " + file.filename().string(),
                label);
      continue;
    }
    const Json& problem = *it;
    if (problem.is_object()) {
      const Json* image = findField(problem, "image");
      if (image && !image->is_null()) {
        ++with_image;
        continue;
      }
    }
    sink.addRow(
        0, [&] { return scienceQaRecord(pid, problem, options); }, label);
  }
  if (with_image > 0)
    sink.note(std::to_string(with_image) +
              " questions with an image left out: only text-only questions are read");
  if (sink.rows() == 0)
    throw std::runtime_error(
        file.string() + ": none of the " + std::to_string(pids.size()) + " problems" +
        (options.split.empty() ? "" : " of split '" + options.split + "'") + " is text-only");
  return sink.finish();
}

QaDataset readPiqa(const std::filesystem::path& file, const std::string& text,
                   const QaImportOptions& options) {
  const std::filesystem::path labels_file =
      options.labels_file.empty() ? file.parent_path() / (file.stem().string() + "-labels.lst")
                                  : options.labels_file;
  if (!std::filesystem::exists(labels_file))
    throw std::runtime_error(file.string() + ": PIQA keeps its answers in a separate file, and " +
                             labels_file.string() +
                             " does not exist (give its path as the labels file)");
  std::vector<std::string> labels = splitLines(readFile(labels_file));
  while (!labels.empty() && trimWhitespace(labels.back()).empty()) labels.pop_back();

  const std::vector<std::string> lines = splitLines(text);
  std::vector<size_t> row_lines;  // 0-based line index of each row
  for (size_t i = 0; i < lines.size(); ++i)
    if (!trimWhitespace(lines[i]).empty()) row_lines.push_back(i);
  if (row_lines.size() != labels.size())
    throw std::runtime_error(file.string() + " has " + std::to_string(row_lines.size()) +
                             " rows but " + labels_file.string() + " has " +
                             std::to_string(labels.size()) +
                             " labels; they must pair up line by line");

  RecordSink sink(file, "piqa");
  for (size_t k = 0; k < row_lines.size(); ++k) {
    const size_t line = row_lines[k] + 1;
    Json row;
    try {
      row = Json::parse(lines[row_lines[k]]);
    } catch (const Json::exception& e) {
      std::string msg = e.what();
      if (size_t close = msg.find("] "); close != std::string::npos) msg.erase(0, close + 2);
      sink.skip(line, "not valid JSON: " + msg);
      continue;
    }
    sink.addRow(line, [&]() -> QaRecord {
      if (!row.is_object()) throw RowError("expected a JSON object, got " + jsonTypeName(row));
      QaRecord r;
      r.id = optionalId(row, "id");
      r.question = requireString(row, "goal");
      r.choices = {requireString(row, "sol1"), requireString(row, "sol2")};
      const std::string label = trimmed(labels[k]);
      if (label != "0" && label != "1")
        throw RowError(labels_file.filename().string() + ":" + std::to_string(k + 1) + ": label '" +
                       label + "' is not 0 or 1");
      r.answer = label == "1" ? 1 : 0;
      return r;
    });
  }
  return sink.finish();
}

QaDataset readGenericJsonl(const std::filesystem::path& file, const std::string& text,
                           const QaFieldMapping& fields) {
  if (fields.question.empty() || fields.choices.empty() || fields.answer.empty())
    throw std::invalid_argument(
        "generic_jsonl needs the field names of the question, the choices and the answer");
  RecordSink sink(file, "generic_jsonl");
  forEachJsonRow(text, sink, [&](const Json& row) {
    QaRecord r;
    r.question = requireString(row, fields.question);
    r.choices = requireStringArray(row, fields.choices);
    if (!fields.context.empty()) r.context = optionalString(row, fields.context);
    if (!fields.id.empty()) r.id = optionalId(row, fields.id);

    const Json& answer = requireField(row, fields.answer);
    const long long base = fields.answer_one_based ? 1 : 0;
    const std::string where = "field '" + fields.answer + "': ";
    long long index = -1;
    if (answer.is_number()) {
      index = requireInteger(row, fields.answer) - base;
    } else if (answer.is_string()) {
      const std::string key = trimmed(answer.get<std::string>());
      if (isDigits(key) && key.size() <= 3) {
        index = std::stoll(key) - base;
      } else if (key.size() == 1 && std::isalpha(static_cast<unsigned char>(key[0]))) {
        index = std::toupper(static_cast<unsigned char>(key[0])) - 'A';
      } else {
        auto it = std::find_if(r.choices.begin(), r.choices.end(),
                               [&](const std::string& c) { return trimmed(c) == key; });
        if (it == r.choices.end())
          throw RowError(where + "'" + key +
                         "' is neither an index, a letter, nor the text of a choice");
        index = it - r.choices.begin();
      }
    } else {
      throw RowError(where + "expected an index, a letter or a choice's text, got " +
                     jsonTypeName(answer));
    }
    if (index < 0 || index >= static_cast<long long>(r.choices.size()))
      throw RowError(where + "answer " + answer.dump() + " is out of range for " +
                     std::to_string(r.choices.size()) + " choices" +
                     (answer.is_number() ? (base ? " (1-based)" : " (0-based)") : ""));
    r.answer = static_cast<int>(index);
    return r;
  });
  return sink.finish();
}

}  // namespace mola::qa_import
