// SPDX-License-Identifier: GPL-3.0-or-later
// PromptTemplate: how a QaRecord becomes prompt and target text, and token ids for training
// (torch-free).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "data/qa_record.h"
#include "model/tokenizer.h"

namespace mola {

// Text with {placeholders}, substituted in one pass (so a question that contains "{input}" stays
// as written). A {name} that the field does not know is an error; other braces are literal.
// The defaults are MoLA's Alpaca-style template:
//
//   Below is an instruction that describes a task, paired with an input that provides further
//   context. Write a response that appropriately completes the request.
//
//   ### Instruction:
//   Choose the correct answer to the multiple-choice question.
//
//   ### Input:
//   Context: <context, when the record has one>
//   Question: <question>
//   Options: (A) <choice> (B) <choice> ...
//
//   ### Response:
//   Answer: The answer is <letter>.            <- the target; the prompt ends before it
struct PromptTemplate {
  // The whole prompt when the rendered input is not empty: {instruction}, {input}.
  std::string prompt_with_input =
      "Below is an instruction that describes a task, paired with an input that provides further "
      "context. Write a response that appropriately completes the request.\n\n"
      "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n";
  // The whole prompt when the rendered input is empty: {instruction}.
  std::string prompt_without_input =
      "Below is an instruction that describes a task. Write a response that appropriately "
      "completes the request.\n\n### Instruction:\n{instruction}\n\n### Response:\n";
  // These two take {question}, {context}, {context_line} and {options}: put them all into the
  // instruction and leave the input empty to get the no-input prompt.
  std::string instruction = "Choose the correct answer to the multiple-choice question.";
  std::string input = "{context_line}Question: {question}\nOptions: {options}";
  // {context}; becomes {context_line} only when the record has a context, else "".
  std::string context_line = "Context: {context}\n";
  // One option, {letter} and {text}; options are joined with option_separator into {options}.
  std::string option = "({letter}) {text}";
  std::string option_separator = " ";
  // What the model should answer: {letter} and {answer_text} (the correct choice's text).
  std::string target = "Answer: The answer is {letter}.";

  // The input and target alone, without the Alpaca header: for byte-level tokenizers, where the
  // default prompt's fixed text (263 bytes) alone exceeds the 256-token cutoff.
  static PromptTemplate compact() {
    PromptTemplate t;
    t.prompt_with_input = "{input}\n";
    t.prompt_without_input = "{instruction}\n";
    return t;
  }
  // compact, with the answer written as the chosen option's text ("Answer: cold."): likelihood
  // scoring then compares the options' own words, so a model that knows the answer needs no
  // second skill to map it to its letter. The quickstart's tiny byte-level model uses it.
  static PromptTemplate compactText() {
    PromptTemplate t = compact();
    t.target = "Answer: {answer_text}.";
    return t;
  }
  // The zero-shot format of evaluation harnesses (lm-evaluation-harness's for ARC, CommonsenseQA):
  // "Question: <question>\nAnswer:" (the context on the line before it, when there is one), no
  // options listed, and the answer's own words as target (" cold"). With --score text, the choices'
  // texts are compared as the published zero-shot figures compare them.
  static PromptTemplate questionAnswer() {
    PromptTemplate t;
    t.prompt_with_input = "{input}";
    t.prompt_without_input = "{instruction}";
    t.input = "{context_line}Question: {question}\nAnswer:";
    t.context_line = "{context}\n";
    t.target = " {answer_text}";
    return t;
  }
  // "mola" (the default above), "compact", "compact-text" or "qa"; std::invalid_argument otherwise.
  static PromptTemplate named(std::string_view name);
  static const std::vector<std::string>& names();
};

// 'A' for 0 ... 'Z' for 25; throws std::out_of_range beyond.
char answerLetter(size_t index);

// The prompt text (everything before the target). Throws std::invalid_argument on an unknown
// placeholder, naming the template field.
std::string renderPrompt(const QaRecord& record, const PromptTemplate& tmpl = PromptTemplate{});
// The target text; throws std::invalid_argument when the record's answer is not a valid index.
std::string renderTarget(const QaRecord& record, const PromptTemplate& tmpl = PromptTemplate{});

// The reference cutoff of MoLA's fine-tuning (tokens per example).
inline constexpr size_t kDefaultCutoff = 256;

struct EncodedExample {
  // BOS, prompt, target, EOS as the tokenizer encodes the whole text; at most `cutoff` ids, the
  // end cut off (EOS and the answer first) when longer.
  std::vector<int> ids;
  // The leading ids (BOS included) that encode the prompt alone: training puts no loss on them.
  // It is the common prefix of the prompt's own encoding and ids, so a token that merges across
  // the prompt/target boundary counts as target.
  size_t prompt_tokens = 0;
  bool truncated = false;  // the full text had more than `cutoff` ids
};

// Throws std::invalid_argument when cutoff < 2 or the record has no valid answer.
EncodedExample encodeExample(const QaRecord& record, const Tokenizer& tokenizer,
                             const PromptTemplate& tmpl = PromptTemplate{},
                             size_t cutoff = kDefaultCutoff);

struct EncodedExamples {
  std::vector<EncodedExample> examples;  // one per record, in order
  size_t truncated = 0;                  // how many of them were cut to the cutoff
};

// Encodes the records on every core (the tokenizer's encode must be safe to call from several
// threads, as ours are); of several failing records, the first one's error is thrown.
EncodedExamples encodeExamples(const std::vector<QaRecord>& records, const Tokenizer& tokenizer,
                               const PromptTemplate& tmpl = PromptTemplate{},
                               size_t cutoff = kDefaultCutoff);

}  // namespace mola
