// SPDX-License-Identifier: GPL-3.0-or-later
// Prompt and target text against hand-written strings; token encoding with a byte-per-token fake.
#include "data/prompt_template.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "expect_error.h"

namespace mola {
namespace {

// One id per byte (3 + b), BOS 1, EOS 2, as the built-in byte tokenizer; with `merge_newline_a`
// the pair "\nA" is the single id 300, to model a BPE merge across the prompt/target boundary.
class ByteTokenizer : public Tokenizer {
 public:
  explicit ByteTokenizer(bool merge_newline_a = false) : m_merge(merge_newline_a) {}

  std::vector<int> encode(std::string_view text, bool add_bos, bool add_eos) const override {
    std::vector<int> ids;
    if (add_bos) ids.push_back(1);
    for (size_t i = 0; i < text.size(); ++i) {
      if (m_merge && text[i] == '\n' && i + 1 < text.size() && text[i + 1] == 'A') {
        ids.push_back(300);
        ++i;
        continue;
      }
      ids.push_back(3 + static_cast<unsigned char>(text[i]));
    }
    if (add_eos) ids.push_back(2);
    return ids;
  }
  std::string decode(const std::vector<int>& ids) const override {
    std::string s;
    for (int id : ids) {
      if (id == 300) s += "\nA";
      if (id >= 3 && id < 259) s += static_cast<char>(id - 3);
    }
    return s;
  }
  std::string decodeNext(int, int id) const override { return decode({id}); }
  int vocabSize() const override { return 301; }
  int bosId() const override { return 1; }
  int eosId() const override { return 2; }
  std::string kind() const override { return "bytes"; }

 private:
  bool m_merge;
};

QaRecord booksRecord() {
  QaRecord r;
  r.id = "q1";
  r.question = "Where are books kept?";
  r.choices = {"bank", "library", "park"};
  r.answer = 1;
  return r;
}

TEST(PromptTemplate, DefaultPromptWithoutContext) {
  const std::string expected =
      "Below is an instruction that describes a task, paired with an input that provides further "
      "context. Write a response that appropriately completes the request.\n"
      "\n"
      "### Instruction:\n"
      "Choose the correct answer to the multiple-choice question.\n"
      "\n"
      "### Input:\n"
      "Question: Where are books kept?\n"
      "Options: (A) bank (B) library (C) park\n"
      "\n"
      "### Response:\n";
  EXPECT_EQ(renderPrompt(booksRecord()), expected);
  EXPECT_EQ(renderTarget(booksRecord()), "Answer: The answer is B.");
}

TEST(PromptTemplate, DefaultPromptWithContext) {
  QaRecord r;
  r.question = "Does the premise entail the hypothesis?";
  r.context = "Premise: A cat sat.\nHypothesis: An animal sat.";
  r.choices = {"no", "yes"};
  r.answer = 1;
  const std::string expected =
      "Below is an instruction that describes a task, paired with an input that provides further "
      "context. Write a response that appropriately completes the request.\n"
      "\n"
      "### Instruction:\n"
      "Choose the correct answer to the multiple-choice question.\n"
      "\n"
      "### Input:\n"
      "Context: Premise: A cat sat.\n"
      "Hypothesis: An animal sat.\n"
      "Question: Does the premise entail the hypothesis?\n"
      "Options: (A) no (B) yes\n"
      "\n"
      "### Response:\n";
  EXPECT_EQ(renderPrompt(r), expected);
  EXPECT_EQ(renderTarget(r), "Answer: The answer is B.");
}

TEST(PromptTemplate, EmptyInputUsesTheNoInputVariant) {
  PromptTemplate t;
  t.instruction = "{question} {options}";
  t.input = "";
  EXPECT_EQ(renderPrompt(booksRecord(), t),
            "Below is an instruction that describes a task. Write a response that appropriately "
            "completes the request.\n\n### Instruction:\nWhere are books kept? (A) bank (B) "
            "library (C) park\n\n### Response:\n");
}

TEST(PromptTemplate, CompactTemplate) {
  EXPECT_EQ(renderPrompt(booksRecord(), PromptTemplate::compact()),
            "Question: Where are books kept?\nOptions: (A) bank (B) library (C) park\n");
  EXPECT_EQ(renderTarget(booksRecord(), PromptTemplate::compact()), "Answer: The answer is B.");
}

TEST(PromptTemplate, CustomTemplate) {
  PromptTemplate t;
  t.prompt_with_input = "{instruction}|{input}|";
  t.instruction = "Pick one";
  t.input = "{context_line}Q: {question}\n{options}";
  t.context_line = "[{context}] ";
  t.option = "{letter}. {text}";
  t.option_separator = "\n";
  t.target = "{letter}: {answer_text}";
  QaRecord r = booksRecord();
  EXPECT_EQ(renderPrompt(r, t), "Pick one|Q: Where are books kept?\nA. bank\nB. library\nC. park|");
  r.context = "Libraries";
  EXPECT_EQ(renderPrompt(r, t),
            "Pick one|[Libraries] Q: Where are books kept?\nA. bank\nB. library\nC. park|");
  EXPECT_EQ(renderTarget(r, t), "B: library");
}

TEST(PromptTemplate, SubstitutionIsOnePassAndOnlyForNames) {
  QaRecord r = booksRecord();
  r.question = "What does {input} mean in {a template}?";
  PromptTemplate t;
  t.prompt_with_input = "{ {input} }";
  t.input = "{question}";
  EXPECT_EQ(renderPrompt(r, t), "{ What does {input} mean in {a template}? }");
}

TEST(PromptTemplate, UnknownPlaceholderNamesTheField) {
  PromptTemplate t;
  t.input = "{question} {answer}";
  test::expectErrorContaining<std::invalid_argument>(
      [&] { renderPrompt(booksRecord(), t); },
      "prompt template field 'input': unknown placeholder {answer}");
  PromptTemplate target_only;
  target_only.target = "{question}";
  test::expectErrorContaining<std::invalid_argument>(
      [&] { renderTarget(booksRecord(), target_only); },
      "field 'target': unknown placeholder {question} (it takes {letter}, {answer_text})");
}

TEST(PromptTemplate, AnswerLetters) {
  EXPECT_EQ(answerLetter(0), 'A');
  EXPECT_EQ(answerLetter(3), 'D');
  EXPECT_EQ(answerLetter(25), 'Z');
  EXPECT_THROW(answerLetter(26), std::out_of_range);
  QaRecord r = booksRecord();
  r.answer = 3;
  test::expectErrorContaining<std::invalid_argument>([&] { renderTarget(r); },
                                                     "answer 3 is not an index into its 3 choices");
}

TEST(PromptTemplate, EncodeWithBytesTokenizer) {
  const ByteTokenizer tok;
  const QaRecord r = booksRecord();
  const std::string prompt = renderPrompt(r);
  const std::string target = "Answer: The answer is B.";
  const EncodedExample ex = encodeExample(r, tok, PromptTemplate{}, 1000);
  ASSERT_EQ(ex.ids.size(), 1 + prompt.size() + target.size() + 1);
  EXPECT_EQ(ex.ids.front(), 1);
  EXPECT_EQ(ex.ids[1], 3 + 'B');                  // "Below ..."
  EXPECT_EQ(ex.ids[1 + prompt.size()], 3 + 'A');  // "Answer: ..."
  EXPECT_EQ(ex.ids.back(), 2);
  EXPECT_EQ(ex.prompt_tokens, 1 + prompt.size());
  EXPECT_FALSE(ex.truncated);

  const EncodedExample cut = encodeExample(r, tok, PromptTemplate{}, prompt.size() + 3);
  ASSERT_EQ(cut.ids.size(), prompt.size() + 3);
  EXPECT_TRUE(cut.truncated);
  EXPECT_EQ(cut.prompt_tokens, 1 + prompt.size());
  EXPECT_EQ(cut.ids.back(), 3 + 'n');  // "An": the answer and EOS are what is lost

  const EncodedExample tiny = encodeExample(r, tok, PromptTemplate{}, 10);
  EXPECT_EQ(tiny.ids.size(), 10u);
  EXPECT_EQ(tiny.prompt_tokens, 10u);

  test::expectErrorContaining<std::invalid_argument>(
      [&] { encodeExample(r, tok, PromptTemplate{}, 1); }, "cutoff must be at least 2");
}

TEST(PromptTemplate, PromptTokensStopAtATokenThatCrossesTheBoundary) {
  // The prompt ends in "\n" and the target starts with "A": merged, that token is the target's.
  const ByteTokenizer merging(true);
  const QaRecord r = booksRecord();
  const std::string prompt = renderPrompt(r);
  const EncodedExample ex = encodeExample(r, merging, PromptTemplate{}, 1000);
  EXPECT_EQ(ex.prompt_tokens, prompt.size());  // BOS + all prompt bytes but the final "\n"
  EXPECT_EQ(ex.ids[prompt.size()], 300);
}

TEST(PromptTemplate, BatchCountsTruncatedRecords) {
  const ByteTokenizer tok;
  std::vector<QaRecord> records(3, booksRecord());
  records[1].question += " Think.";
  records[2].question += " Think hard.";
  const size_t shortest = 1 + renderPrompt(records[0]).size() + renderTarget(records[0]).size() + 1;
  // Exactly at the cutoff is not truncated; the two longer ones are.
  const EncodedExamples batch = encodeExamples(records, tok, PromptTemplate{}, shortest);
  ASSERT_EQ(batch.examples.size(), 3u);
  EXPECT_EQ(batch.truncated, 2u);
  EXPECT_FALSE(batch.examples[0].truncated);
  EXPECT_EQ(batch.examples[0].ids.back(), 2);
  EXPECT_TRUE(batch.examples[1].truncated);
  EXPECT_TRUE(batch.examples[2].truncated);
  EXPECT_EQ(batch.examples[2].ids.size(), shortest);

  // One byte per token: the default template's fixed text alone (263 bytes) exceeds the default
  // cutoff of 256, so all three are cut there; without the header they fit.
  EXPECT_EQ(kDefaultCutoff, 256u);
  EXPECT_EQ(encodeExamples(records, tok).truncated, 3u);
  EXPECT_EQ(encodeExamples(records, tok, PromptTemplate::compact()).truncated, 0u);
}

}  // namespace
}  // namespace mola
