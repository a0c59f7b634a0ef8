// SPDX-License-Identifier: GPL-3.0-or-later
// Prompt and target rendering with {placeholder} templates, answer parsing, and token encoding.
#include "data/prompt_template.h"

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <utility>

#include "parallel_map.h"

namespace mola {

namespace {

using Values = std::vector<std::pair<std::string_view, std::string>>;

bool isNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// One pass over `text`: each {name} known in `values` is replaced, an unknown {name} is an error
// naming `field`; braces around anything that is not a name stay literal.
std::string substitute(std::string_view text, const Values& values, std::string_view field) {
  std::string out;
  out.reserve(text.size() + 64);
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '{') {
      size_t end = i + 1;
      while (end < text.size() && isNameChar(text[end])) ++end;
      if (end < text.size() && text[end] == '}' && end > i + 1) {
        const std::string_view name = text.substr(i + 1, end - i - 1);
        auto it = std::find_if(values.begin(), values.end(),
                               [&](const auto& v) { return v.first == name; });
        if (it == values.end()) {
          std::string known;
          for (const auto& v : values)
            known += (known.empty() ? "{" : ", {") + std::string(v.first) + "}";
          throw std::invalid_argument("prompt template field '" + std::string(field) +
                                      "': unknown placeholder {" + std::string(name) +
                                      "} (it takes " + (known.empty() ? "none" : known) + ")");
        }
        out += it->second;
        i = end + 1;
        continue;
      }
    }
    out += text[i++];
  }
  return out;
}

void checkAnswer(const QaRecord& record) {
  if (record.answer < 0 || static_cast<size_t>(record.answer) >= record.choices.size())
    throw std::invalid_argument("record '" + record.id + "': answer " +
                                std::to_string(record.answer) + " is not an index into its " +
                                std::to_string(record.choices.size()) + " choices");
}

// The values the instruction and the input see.
Values recordValues(const QaRecord& record, const PromptTemplate& tmpl) {
  std::string options;
  for (size_t i = 0; i < record.choices.size(); ++i) {
    if (i) options += tmpl.option_separator;
    options += substitute(
        tmpl.option, {{"letter", std::string(1, answerLetter(i))}, {"text", record.choices[i]}},
        "option");
  }
  std::string context_line;
  if (!record.context.empty())
    context_line = substitute(tmpl.context_line, {{"context", record.context}}, "context_line");
  return {{"question", record.question},
          {"context", record.context},
          {"context_line", std::move(context_line)},
          {"options", std::move(options)}};
}

}  // namespace

PromptTemplate PromptTemplate::named(std::string_view name) {
  if (name == "mola") return PromptTemplate{};
  if (name == "compact") return compact();
  if (name == "compact-text") return compactText();
  if (name == "qa") return questionAnswer();
  std::string known;
  for (const std::string& n : names()) known += (known.empty() ? "" : ", ") + n;
  throw std::invalid_argument("unknown prompt template '" + std::string(name) +
                              "' (known: " + known + ")");
}

const std::vector<std::string>& PromptTemplate::names() {
  static const std::vector<std::string> kNames = {"mola", "compact", "compact-text", "qa"};
  return kNames;
}

char answerLetter(size_t index) {
  if (index >= QaRecord::kMaxChoices)
    throw std::out_of_range("choice " + std::to_string(index) + " has no letter: at most " +
                            std::to_string(QaRecord::kMaxChoices) + " choices");
  return static_cast<char>('A' + index);
}

std::string renderPrompt(const QaRecord& record, const PromptTemplate& tmpl) {
  const Values values = recordValues(record, tmpl);
  const std::string instruction = substitute(tmpl.instruction, values, "instruction");
  const std::string input = substitute(tmpl.input, values, "input");
  if (input.empty())
    return substitute(tmpl.prompt_without_input, {{"instruction", instruction}},
                      "prompt_without_input");
  return substitute(tmpl.prompt_with_input, {{"instruction", instruction}, {"input", input}},
                    "prompt_with_input");
}

std::string renderTarget(const QaRecord& record, const PromptTemplate& tmpl) {
  checkAnswer(record);
  const size_t answer = static_cast<size_t>(record.answer);
  return substitute(
      tmpl.target,
      {{"letter", std::string(1, answerLetter(answer))}, {"answer_text", record.choices[answer]}},
      "target");
}

EncodedExample encodeExample(const QaRecord& record, const Tokenizer& tokenizer,
                             const PromptTemplate& tmpl, size_t cutoff) {
  if (cutoff < 2)
    throw std::invalid_argument("the cutoff must be at least 2 tokens (got " +
                                std::to_string(cutoff) + ")");
  const std::string prompt = renderPrompt(record, tmpl);
  const std::string target = renderTarget(record, tmpl);
  EncodedExample ex;
  // The whole text at once, as the model reads it: encoding prompt and target apart would make
  // the target's first token differ from the one generation has to produce (SentencePiece adds a
  // leading space to a text's first word).
  ex.ids = tokenizer.encode(prompt + target, true, true);
  const std::vector<int> prompt_ids = tokenizer.encode(prompt, true, false);
  const auto mismatch =
      std::mismatch(prompt_ids.begin(), prompt_ids.end(), ex.ids.begin(), ex.ids.end());
  ex.prompt_tokens = static_cast<size_t>(mismatch.first - prompt_ids.begin());
  if (ex.ids.size() > cutoff) {
    ex.ids.resize(cutoff);
    ex.truncated = true;
    ex.prompt_tokens = std::min(ex.prompt_tokens, cutoff);
  }
  return ex;
}

EncodedExamples encodeExamples(const std::vector<QaRecord>& records, const Tokenizer& tokenizer,
                               const PromptTemplate& tmpl, size_t cutoff) {
  EncodedExamples out;
  // On every core: thousands of records take seconds on one.
  out.examples = parallelMap<EncodedExample>(
      records.size(), [&](size_t i) { return encodeExample(records[i], tokenizer, tmpl, cutoff); },
      kRecordsPerEncodeThread);
  for (const EncodedExample& e : out.examples) out.truncated += e.truncated;
  return out;
}

}  // namespace mola
