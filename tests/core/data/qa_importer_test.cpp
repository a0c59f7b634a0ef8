// SPDX-License-Identifier: GPL-3.0-or-later
// importQa on small hand-written files of every format: parsed fields, detection, skipped rows,
// errors.
#include "data/qa_importer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "expect_error.h"
#include "shared_data.h"

namespace mola {
namespace {

namespace fs = std::filesystem;

fs::path writeFile(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  return path;
}

template <typename F>
void expectRuntimeError(F f, const std::string& needle) {
  test::expectErrorContaining<std::runtime_error>(f, needle);
}

void expectRecord(const QaRecord& r, const std::string& id, const std::string& question,
                  const std::string& context, const std::vector<std::string>& choices, int answer) {
  EXPECT_EQ(r.id, id);
  EXPECT_EQ(r.question, question);
  EXPECT_EQ(r.context, context);
  EXPECT_EQ(r.choices, choices);
  EXPECT_EQ(r.answer, answer);
}

const char* kCsqaOfficial =
    R"({"answerKey": "B", "id": "q1", "question": {"question_concept": "x", "choices": [{"label": "A", "text": "bank"}, {"label": "B", "text": "library"}, {"label": "C", "text": "park"}], "stem": "Where are books kept?"}})"
    "\n"
    R"({"answerKey": "A", "id": "q2", "question": {"choices": [{"label": "A", "text": "wet"}, {"label": "B", "text": "dry"}], "stem": "  Rain makes the ground what?  "}})"
    "\n";

TEST(QaImporter, CommonsenseQaOfficial) {
  const fs::path dir = test::tempDir("qa_csqa");
  const fs::path file = writeFile(dir / "train_rand_split.jsonl", kCsqaOfficial);
  EXPECT_EQ(detectQaFormat(file), "commonsense_qa");
  const QaDataset d = importQa(file);
  EXPECT_EQ(d.format, "commonsense_qa");
  ASSERT_EQ(d.records.size(), 2u);
  EXPECT_TRUE(d.skipped.empty());
  expectRecord(d.records[0], "q1", "Where are books kept?", "", {"bank", "library", "park"}, 1);
  expectRecord(d.records[1], "q2", "Rain makes the ground what?", "", {"wet", "dry"}, 0);
}

TEST(QaImporter, ArcOfficialWithDigitLabels) {
  const fs::path dir = test::tempDir("qa_arc_official");
  const fs::path file = writeFile(
      dir / "ARC-Easy-Dev.jsonl",
      R"({"id": "Mercury_1", "question": {"stem": "Which is a gas?", "choices": [{"text": "ice", "label": "1"}, {"text": "steam", "label": "2"}, {"text": "rock", "label": "3"}, {"text": "wood", "label": "4"}]}, "answerKey": "2"})"
      "\n"
      R"({"id": "Mercury_2", "question": {"stem": "Pick C.", "choices": [{"text": "a", "label": "A"}, {"text": "b", "label": "B"}, {"text": "c", "label": "C"}]}, "answerKey": "C"})"
      "\n");
  EXPECT_EQ(detectQaFormat(file), "commonsense_qa");
  const QaDataset d = importQa(file);
  ASSERT_EQ(d.records.size(), 2u);
  expectRecord(d.records[0], "Mercury_1", "Which is a gas?", "", {"ice", "steam", "rock", "wood"},
               1);
  expectRecord(d.records[1], "Mercury_2", "Pick C.", "", {"a", "b", "c"}, 2);
}

TEST(QaImporter, OpenBookQaJsonlWithFact) {
  const fs::path dir = test::tempDir("qa_obqa_jsonl");
  const fs::path file = writeFile(
      dir / "train_complete.jsonl",
      R"({"id": "7-980", "question": {"stem": "The sun is responsible for", "choices": [{"text": "puppies learning", "label": "A"}, {"text": "plants sprouting", "label": "B"}]}, "fact1": "the sun is the source of energy for life", "answerKey": "B"})"
      "\n");
  EXPECT_EQ(detectQaFormat(file), "openbookqa_jsonl");
  const QaDataset d = importQa(file);
  EXPECT_EQ(d.format, "openbookqa_jsonl");
  ASSERT_EQ(d.records.size(), 1u);
  expectRecord(d.records[0], "7-980", "The sun is responsible for",
               "the sun is the source of energy for life", {"puppies learning", "plants sprouting"},
               1);
}

TEST(QaImporter, FlatJsonl) {
  const fs::path dir = test::tempDir("qa_flat");
  const fs::path file = writeFile(
      dir / "validation.jsonl",
      R"({"choices": ["ignore", "enforce", "yell at"], "query": "The sanctions seemed to what?", "gold": 0})"
      "\n"
      R"({"choices": ["2", "4"], "query": "Question: What is 2+2?\nAnswer:", "gold": 1})"
      "\n");
  EXPECT_EQ(detectQaFormat(file), "flat_jsonl");
  const QaDataset d = importQa(file);
  EXPECT_EQ(d.format, "flat_jsonl");
  ASSERT_EQ(d.records.size(), 2u);
  expectRecord(d.records[0], "", "The sanctions seemed to what?", "",
               {"ignore", "enforce", "yell at"}, 0);
  // The prompt wrapping goes: the template writes its own "Question:".
  expectRecord(d.records[1], "", "What is 2+2?", "", {"2", "4"}, 1);
}

TEST(QaImporter, ArcHuggingFaceSchema) {
  const fs::path dir = test::tempDir("qa_arc_hf");
  const fs::path file = writeFile(
      dir / "arc.jsonl",
      R"({"id": "Mercury_7175875", "question": "An astronomer observes that a planet rotates faster. Why?", "choices": {"text": ["increased density", "planetary gravity", "collision"], "label": ["A", "B", "C"]}, "answerKey": "C"})"
      "\n"
      R"({"id": "NYSEDREGENTS_2", "question": "Digits?", "choices": {"text": ["x", "y", "z", "w"], "label": ["1", "2", "3", "4"]}, "answerKey": "4"})"
      "\n");
  EXPECT_EQ(detectQaFormat(file), "arc_hf");
  const QaDataset d = importQa(file);
  EXPECT_EQ(d.format, "arc_hf");
  ASSERT_EQ(d.records.size(), 2u);
  expectRecord(d.records[0], "Mercury_7175875",
               "An astronomer observes that a planet rotates faster. Why?", "",
               {"increased density", "planetary gravity", "collision"}, 2);
  expectRecord(d.records[1], "NYSEDREGENTS_2", "Digits?", "", {"x", "y", "z", "w"}, 3);
}

TEST(QaImporter, OpenBookQaHuggingFaceUsesQuestionStem) {
  const fs::path dir = test::tempDir("qa_obqa_hf");
  const fs::path file = writeFile(
      dir / "obqa.jsonl",
      R"({"id": "8-376", "question_stem": "Frilled sharks live", "choices": {"text": ["on land", "deep in the ocean"], "label": ["A", "B"]}, "answerKey": "B", "fact1": "deep sea animals live deep in the ocean"})"
      "\n");
  EXPECT_EQ(detectQaFormat(file), "arc_hf");
  const QaDataset d = importQa(file);
  ASSERT_EQ(d.records.size(), 1u);
  expectRecord(d.records[0], "8-376", "Frilled sharks live",
               "deep sea animals live deep in the ocean", {"on land", "deep in the ocean"}, 1);
}

TEST(QaImporter, OpenBookQaTsv) {
  const fs::path dir = test::tempDir("qa_obqa_tsv");
  const fs::path file = writeFile(
      dir / "dev.tsv",
      "ID\tQuestion Stem\tChoices\tComplete Question\tAnswer Key\n"
      "7-980\tThe sun is responsible for\t(A) puppies learning new tricks (B) children growing "
      "up (C) flowers wilting in a vase (D) plants sprouting\tignored\tD\n"
      // Upstream row 12-1145 writes "(D)" twice: the second stays inside choice D.
      "12-1145\tWhich is a mammal?\t(A) turtles (B) seals (C) ducks (D) birds (D) dogs\tx\tB\n");
  EXPECT_EQ(detectQaFormat(file), "openbookqa_tsv");
  const QaDataset d = importQa(file);
  EXPECT_EQ(d.format, "openbookqa_tsv");
  ASSERT_EQ(d.records.size(), 2u);
  expectRecord(d.records[0], "7-980", "The sun is responsible for", "",
               {"puppies learning new tricks", "children growing up", "flowers wilting in a vase",
                "plants sprouting"},
               3);
  expectRecord(d.records[1], "12-1145", "Which is a mammal?", "",
               {"turtles", "seals", "ducks", "birds (D) dogs"}, 1);
}

// problems.json: pids 1 (image), 2, 10 (train) and 3 (val); pid_splits.json lists train as
// ["10", "2", "1"] to check that its order is kept.
fs::path writeScienceQa(const fs::path& dir, bool with_splits) {
  writeFile(dir / "problems.json", R"({
  "1": {"question": "Which animal is shown?", "choices": ["cat", "dog"], "answer": 0, "hint": "",
        "image": "image.png", "lecture": "", "split": "train"},
  "10": {"question": "Which is a solid?", "choices": ["milk", "rock", "air"], "answer": 1,
         "hint": "Look at the states.", "image": null, "lecture": "Solids keep their shape.",
         "split": "train"},
  "2": {"question": "What is 1+1?", "choices": ["2", "3"], "answer": 0, "hint": "",
        "image": null, "lecture": "Addition.", "split": "train"},
  "3": {"question": "Which word rhymes with cat?", "choices": ["hat", "dog", "sun", "cup"],
        "answer": 0, "hint": "", "image": null, "lecture": "", "split": "val"}
})");
  if (with_splits)
    writeFile(dir / "pid_splits.json", R"({"train": ["10", "2", "1"], "val": ["3"], "test": []})");
  return dir / "problems.json";
}

TEST(QaImporter, ScienceQaAllTextOnly) {
  const fs::path file = writeScienceQa(test::tempDir("qa_sqa_all"), true);
  EXPECT_EQ(detectQaFormat(file), "scienceqa");
  const QaDataset d = importQa(file);
  EXPECT_EQ(d.format, "scienceqa");
  ASSERT_EQ(d.records.size(), 3u);
  // pid order is numeric: 2, 3, 10.
  expectRecord(d.records[0], "2", "What is 1+1?", "", {"2", "3"}, 0);
  expectRecord(d.records[1], "3", "Which word rhymes with cat?", "", {"hat", "dog", "sun", "cup"},
               0);
  expectRecord(d.records[2], "10", "Which is a solid?", "Look at the states.",
               {"milk", "rock", "air"}, 1);
  // The image question is counted, not silently dropped, and it is no error.
  EXPECT_TRUE(d.skipped.empty());
  ASSERT_EQ(d.notes.size(), 1u);
  EXPECT_NE(d.notes[0].find("1 questions with an image left out"), std::string::npos);
}

TEST(QaImporter, ScienceQaSplitFromPidSplits) {
  const fs::path file = writeScienceQa(test::tempDir("qa_sqa_split"), true);
  QaImportOptions options;
  options.split = "train";
  options.scienceqa_lecture = true;
  const QaDataset d = importQa(file, options);
  ASSERT_EQ(d.records.size(), 2u);
  expectRecord(d.records[0], "10", "Which is a solid?",
               "Look at the states.\nSolids keep their shape.", {"milk", "rock", "air"}, 1);
  expectRecord(d.records[1], "2", "What is 1+1?", "Addition.", {"2", "3"}, 0);

  options.split = "val";
  options.scienceqa_lecture = false;
  const QaDataset val = importQa(file, options);
  ASSERT_EQ(val.records.size(), 1u);
  EXPECT_EQ(val.records[0].id, "3");
  EXPECT_TRUE(val.skipped.empty());

  options.split = "minival";
  expectRuntimeError([&] { importQa(file, options); }, "has no split 'minival'");
}

TEST(QaImporter, ScienceQaSplitFromProblemsWithoutPidSplits) {
  const fs::path file = writeScienceQa(test::tempDir("qa_sqa_field"), false);
  QaImportOptions options;
  options.split = "train";
  const QaDataset d = importQa(file, options);
  ASSERT_EQ(d.records.size(), 2u);
  EXPECT_EQ(d.records[0].id, "2");
  EXPECT_EQ(d.records[1].id, "10");
  options.split = "test";
  expectRuntimeError([&] { importQa(file, options); }, "no problem has split 'test'");
}

TEST(QaImporter, PiqaWithLabelsFile) {
  const fs::path dir = test::tempDir("qa_piqa");
  const fs::path file = writeFile(
      dir / "valid.jsonl",
      R"({"id": "p1", "goal": "To open a jar", "sol1": "twist the lid", "sol2": "shake it"})"
      "\n"
      R"({"goal": "To dry a towel", "sol1": "put it in water", "sol2": "hang it in the sun"})"
      "\n");
  writeFile(dir / "valid-labels.lst", "0\n1\n");
  EXPECT_EQ(detectQaFormat(file), "piqa");
  const QaDataset d = importQa(file);
  EXPECT_EQ(d.format, "piqa");
  ASSERT_EQ(d.records.size(), 2u);
  expectRecord(d.records[0], "p1", "To open a jar", "", {"twist the lid", "shake it"}, 0);
  expectRecord(d.records[1], "", "To dry a towel", "", {"put it in water", "hang it in the sun"},
               1);

  // A labels file elsewhere, given explicitly.
  QaImportOptions options;
  options.labels_file = writeFile(dir / "other.lst", "1\n0\n");
  const QaDataset other = importQa(file, options);
  EXPECT_EQ(other.records[0].answer, 1);
  EXPECT_EQ(other.records[1].answer, 0);
}

TEST(QaImporter, PiqaLabelProblems) {
  const fs::path dir = test::tempDir("qa_piqa_bad");
  std::string rows;
  for (int i = 0; i < 4; ++i)
    rows += R"({"goal": "g)" + std::to_string(i) + R"(", "sol1": "a", "sol2": "b"})" + "\n";
  const fs::path file = writeFile(dir / "train.jsonl", rows);

  expectRuntimeError([&] { importQa(file); }, "train-labels.lst does not exist");

  writeFile(dir / "train-labels.lst", "0\n1\n0\n");
  expectRuntimeError([&] { importQa(file); }, "has 4 rows but");

  writeFile(dir / "train-labels.lst", "0\n1\n2\n1\n");
  const QaDataset d = importQa(file);
  ASSERT_EQ(d.records.size(), 3u);
  ASSERT_EQ(d.skipped.size(), 1u);
  EXPECT_EQ(d.skipped[0].line, 3u);
  EXPECT_EQ(d.skipped[0].reason, "train-labels.lst:3: label '2' is not 0 or 1");
}

TEST(QaImporter, GlueMrpcWithBom) {
  const fs::path dir = test::tempDir("qa_mrpc");
  const fs::path file = writeFile(
      dir / "train.tsv",
      "\xEF\xBB\xBFQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
      "1\t702876\t702977\tAmrozi accused his brother , whom he called \" the witness \" .\t"
      "Referring to him as only \" the witness \" , Amrozi accused his brother .\n"
      "0\t2108705\t2108831\tYucaipa owned Dominick 's .\tYucaipa bought Dominick 's in 1995 .\n");
  EXPECT_EQ(detectQaFormat(file), "glue_mrpc");
  const QaDataset d = importQa(file);
  EXPECT_EQ(d.format, "glue_mrpc");
  ASSERT_EQ(d.records.size(), 2u);
  expectRecord(d.records[0], "702876-702977", "Do sentence 1 and sentence 2 mean the same thing?",
               "Sentence 1: Amrozi accused his brother , whom he called \" the witness \" .\n"
               "Sentence 2: Referring to him as only \" the witness \" , Amrozi accused his "
               "brother .",
               {"no", "yes"}, 1);
  expectRecord(d.records[1], "2108705-2108831", "Do sentence 1 and sentence 2 mean the same thing?",
               "Sentence 1: Yucaipa owned Dominick 's .\nSentence 2: Yucaipa bought Dominick 's "
               "in 1995 .",
               {"no", "yes"}, 0);
}

TEST(QaImporter, GlueRte) {
  const fs::path dir = test::tempDir("qa_rte");
  const fs::path file =
      writeFile(dir / "dev.tsv",
                "index\tsentence1\tsentence2\tlabel\n"
                "0\tDana Reeve has died.\tChristopher Reeve had an accident.\tnot_entailment\n"
                "1\tBacteria mutate fast.\tBacteria is winning.\tentailment\n"
                "2\tA.\tB.\tmaybe\n");
  EXPECT_EQ(detectQaFormat(file), "glue_rte");
  const QaDataset d = importQa(file);
  ASSERT_EQ(d.records.size(), 2u);
  expectRecord(d.records[0], "0", "Does the premise entail the hypothesis?",
               "Premise: Dana Reeve has died.\nHypothesis: Christopher Reeve had an accident.",
               {"no", "yes"}, 0);
  expectRecord(d.records[1], "1", "Does the premise entail the hypothesis?",
               "Premise: Bacteria mutate fast.\nHypothesis: Bacteria is winning.", {"no", "yes"},
               1);
  ASSERT_EQ(d.skipped.size(), 1u);
  EXPECT_EQ(d.skipped[0].line, 4u);
  EXPECT_EQ(d.skipped[0].reason, "field 'label': 'maybe' is not entailment or not_entailment");
}

TEST(QaImporter, GlueRteTestFileHasNoLabels) {
  const fs::path dir = test::tempDir("qa_rte_test");
  const fs::path file =
      writeFile(dir / "test.tsv", "index\tsentence1\tsentence2\n0\tA cat sat.\tA cat.\n");
  EXPECT_EQ(detectQaFormat(file), "glue_rte");
  expectRuntimeError([&] { importQa(file); }, "test.tsv:1: the header has no column 'label'");
}

TEST(QaImporter, GlueCola) {
  const fs::path dir = test::tempDir("qa_cola");
  const fs::path file = writeFile(dir / "train.tsv",
                                  "gj04\t1\t\tOur friends won't buy this analysis.\n"
                                  "gj04\t0\t*\tOne more pseudo generalization or I'm giving up.\n"
                                  "cj99\t1\t \tThe more you eat, the fatter you get.");
  EXPECT_EQ(detectQaFormat(file), "glue_cola");
  const QaDataset d = importQa(file);
  EXPECT_EQ(d.format, "glue_cola");
  ASSERT_EQ(d.records.size(), 3u);
  expectRecord(d.records[0], "", "Is this sentence grammatically acceptable?",
               "Our friends won't buy this analysis.", {"no", "yes"}, 1);
  expectRecord(d.records[1], "", "Is this sentence grammatically acceptable?",
               "One more pseudo generalization or I'm giving up.", {"no", "yes"}, 0);
  expectRecord(d.records[2], "", "Is this sentence grammatically acceptable?",
               "The more you eat, the fatter you get.", {"no", "yes"}, 1);
}

TEST(QaImporter, GenericJsonlWithMapping) {
  const fs::path dir = test::tempDir("qa_generic");
  const fs::path file = writeFile(
      dir / "mine.jsonl",
      R"({"uid": 7, "q": {"text": "Two plus two?"}, "opts": ["3", "4", "5"], "ans": 1, "passage": "Arithmetic."})"
      "\n"
      R"({"uid": "b", "q": {"text": "Pick c."}, "opts": ["a", "b", "c"], "ans": "C"})"
      "\n"
      R"({"uid": "c", "q": {"text": "Colour of grass?"}, "opts": ["red", "green"], "ans": "green"})"
      "\n"
      R"({"uid": "d", "q": {"text": "Index as text?"}, "opts": ["x", "y"], "ans": "0"})"
      "\n");
  QaImportOptions options;
  options.format = "generic_jsonl";
  options.fields.question = "q.text";
  options.fields.choices = "opts";
  options.fields.answer = "ans";
  options.fields.context = "passage";
  options.fields.id = "uid";
  const QaDataset d = importQa(file, options);
  EXPECT_EQ(d.format, "generic_jsonl");
  ASSERT_EQ(d.records.size(), 4u);
  expectRecord(d.records[0], "7", "Two plus two?", "Arithmetic.", {"3", "4", "5"}, 1);
  expectRecord(d.records[1], "b", "Pick c.", "", {"a", "b", "c"}, 2);
  expectRecord(d.records[2], "c", "Colour of grass?", "", {"red", "green"}, 1);
  expectRecord(d.records[3], "d", "Index as text?", "", {"x", "y"}, 0);

  options.fields.answer_one_based = true;
  const QaDataset one_based = importQa(file, options);
  ASSERT_EQ(one_based.records.size(), 3u);  // "0" is out of range when 1-based
  EXPECT_EQ(one_based.records[0].answer, 0);
  ASSERT_EQ(one_based.skipped.size(), 1u);
  EXPECT_EQ(one_based.skipped[0].line, 4u);
  EXPECT_EQ(one_based.skipped[0].reason, "field 'ans': answer \"0\" is out of range for 2 choices");
}

TEST(QaImporter, GenericJsonArrayFile) {
  const fs::path dir = test::tempDir("qa_generic_array");
  const fs::path file = writeFile(dir / "data.json", R"([
  {"question": "Up or down?", "choices": ["up", "down"], "answer": 0},
  {"question": "Bad", "choices": ["only one"], "answer": 0},
  {"question": "Yes?", "choices": ["no", "yes"], "answer": "B"}
])");
  const QaDataset d = importQa(file, "generic_jsonl");
  ASSERT_EQ(d.records.size(), 2u);
  expectRecord(d.records[0], "", "Up or down?", "", {"up", "down"}, 0);
  expectRecord(d.records[1], "", "Yes?", "", {"no", "yes"}, 1);
  ASSERT_EQ(d.skipped.size(), 1u);
  EXPECT_EQ(d.skipped[0].line, 0u);
  EXPECT_EQ(d.skipped[0].reason, "record 2: 1 choices; 2 to 26 are allowed");
}

TEST(QaImporter, JsonArrayOfAKnownSchemaIsDetected) {
  const fs::path dir = test::tempDir("qa_flat_array");
  const fs::path file =
      writeFile(dir / "flat.json", R"([{"query": "Q?", "choices": ["a", "b"], "gold": 1}])");
  EXPECT_EQ(detectQaFormat(file), "flat_jsonl");
  EXPECT_EQ(importQa(file).records.at(0).answer, 1);
}

TEST(QaImporter, JsonlWhoseFirstRowIsAnArrayIsStillJsonl) {
  const fs::path dir = test::tempDir("qa_first_row_array");
  const fs::path file = writeFile(dir / "x.jsonl",
                                  "[1, 2]\n"
                                  R"({"query": "Q?", "choices": ["a", "b"], "gold": 0})"
                                  "\n"
                                  R"({"query": "R?", "choices": ["a", "b"], "gold": 1})"
                                  "\n");
  EXPECT_EQ(detectQaFormat(file), "flat_jsonl");
  const QaDataset d = importQa(file);
  ASSERT_EQ(d.records.size(), 2u);
  ASSERT_EQ(d.skipped.size(), 1u);
  EXPECT_EQ(d.skipped[0].line, 1u);
  EXPECT_EQ(d.skipped[0].reason, "expected a JSON object, got an array");
}

TEST(QaImporter, BadRowsAreSkippedWithFileLineAndReason) {
  const fs::path dir = test::tempDir("qa_bad_rows");
  std::string text;
  auto good = [](int i) {
    return R"({"query": "Q)" + std::to_string(i) + R"(?", "choices": ["a", "b", "c"], "gold": 2})";
  };
  // Lines: 1 good, 2 bad JSON, 3 good, 4 blank (not a row), 5 one choice, 6 good, 7 gold out of
  // range, 8 missing query, 9 good, 10 good, 11 27 choices, 12 good, 13 gold a string, 14 good,
  // 15 an array, 16 good.
  std::string many = R"(["c0")";
  for (int i = 1; i < 27; ++i) many += ", \"c" + std::to_string(i) + "\"";
  many += "]";
  const std::vector<std::string> lines = {
      good(1),
      R"({"query": "broken", "choices": ["a", "b"], "gold": )",
      good(3),
      "",
      R"({"query": "One?", "choices": ["a"], "gold": 0})",
      good(6),
      R"({"query": "Range?", "choices": ["a", "b"], "gold": 2})",
      R"({"choices": ["a", "b"], "gold": 0})",
      good(9),
      good(10),
      R"({"query": "Many?", "choices": )" + many + R"(, "gold": 0})",
      good(12),
      R"({"query": "Type?", "choices": ["a", "b"], "gold": "1"})",
      good(14),
      R"([1, 2])",
      good(16),
  };
  for (const std::string& l : lines) text += l + "\n";
  const fs::path file = writeFile(dir / "mixed.jsonl", text);
  EXPECT_EQ(detectQaFormat(file), "flat_jsonl");
  const QaDataset d = importQa(file);
  ASSERT_EQ(d.records.size(), 8u);
  EXPECT_EQ(d.records[0].question, "Q1?");
  EXPECT_EQ(d.records[7].question, "Q16?");

  ASSERT_EQ(d.skipped.size(), 7u);
  const std::string name = file.string();
  const std::vector<std::pair<size_t, std::string>> expected = {
      {2, "not valid JSON"},
      {5, "1 choices; 2 to 26 are allowed"},
      {7, "field 'gold': 2 is out of range for 2 choices (0-based)"},
      {8, "field 'query' is missing"},
      {11, "27 choices; 2 to 26 are allowed"},
      {13, "field 'gold': expected an integer, got the string \"1\""},
      {15, "expected a JSON object, got an array"},
  };
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(d.skipped[i].file, name);
    EXPECT_EQ(d.skipped[i].line, expected[i].first);
    EXPECT_EQ(d.skipped[i].reason.rfind(expected[i].second, 0), 0u)
        << "line " << expected[i].first << ": " << d.skipped[i].reason;
  }
}

TEST(QaImporter, OfficialSchemaRowProblemsNameTheField) {
  const fs::path dir = test::tempDir("qa_csqa_bad");
  const fs::path file = writeFile(
      dir / "dev.jsonl",
      std::string(kCsqaOfficial) +
          R"({"id": "q3", "question": {"stem": "No key?", "choices": [{"label": "A", "text": "x"}, {"label": "B", "text": "y"}]}})"
          "\n"
          R"({"id": "q4", "answerKey": "E", "question": {"stem": "E?", "choices": [{"label": "A", "text": "x"}, {"label": "B", "text": "y"}]}})"
          "\n"
          R"({"id": "q5", "answerKey": "A", "question": {"stem": "No text?", "choices": [{"label": "A", "text": "x"}, {"label": "B"}]}})"
          "\n" +
          kCsqaOfficial);
  const QaDataset d = importQa(file);
  EXPECT_EQ(d.records.size(), 4u);
  ASSERT_EQ(d.skipped.size(), 3u);
  EXPECT_EQ(d.skipped[0].line, 3u);
  EXPECT_EQ(d.skipped[0].reason, "field 'answerKey' is missing");
  EXPECT_EQ(d.skipped[1].line, 4u);
  EXPECT_EQ(d.skipped[1].reason,
            "field 'answerKey': 'E' names none of the 2 choices (labels A, B)");
  EXPECT_EQ(d.skipped[2].line, 5u);
  EXPECT_EQ(d.skipped[2].reason, "question.choices[1]: field 'text' is missing");
}

TEST(QaImporter, GarbageFileIsAnErrorNamingFileAndLine) {
  const fs::path dir = test::tempDir("qa_garbage");
  const fs::path file = writeFile(dir / "noise.txt", "lorem ipsum dolor\nsit amet\n");
  expectRuntimeError([&] { detectQaFormat(file); }, file.string() + ":1: cannot tell the format");
  expectRuntimeError([&] { importQa(file); }, file.string() + ":1: cannot tell the format");
  // With the format given, every row fails: the error quotes the first problem with its place.
  expectRuntimeError([&] { importQa(file, "flat_jsonl"); },
                     file.string() +
                         ": no usable record among 2 rows as format 'flat_jsonl'; "
                         "the first problem: " +
                         file.string() + ":1: not valid JSON");

  const fs::path json_garbage = writeFile(dir / "other.jsonl", R"({"a": 1})"
                                                               "\n"
                                                               R"({"b": 2})"
                                                               "\n");
  expectRuntimeError([&] { importQa(json_garbage); }, json_garbage.string() + ":1: no JSON record");
  expectRuntimeError([&] { importQa(json_garbage, "commonsense_qa"); },
                     json_garbage.string() + ":1: field 'question.stem' is missing");
}

TEST(QaImporter, MostlyBadRowsMeanTheWrongFormat) {
  const fs::path dir = test::tempDir("qa_mostly_bad");
  const fs::path file =
      writeFile(dir / "x.jsonl", R"({"query": "Q?", "choices": ["a", "b"], "gold": 0})"
                                 "\n"
                                 R"({"query": "Q?", "choices": ["a", "b"], "gold": 5})"
                                 "\n"
                                 R"({"query": "Q?", "choices": ["a", "b"], "gold": 7})"
                                 "\n");
  expectRuntimeError([&] { importQa(file); },
                     "only 1 of 3 rows are usable as format 'flat_jsonl'; the first problem: " +
                         file.string() + ":2: field 'gold'");
}

TEST(QaImporter, MissingEmptyAndUnknown) {
  const fs::path dir = test::tempDir("qa_missing");
  expectRuntimeError([&] { importQa(dir / "nope.jsonl"); }, "nope.jsonl: no such file");
  expectRuntimeError([&] { detectQaFormat(dir / "nope.jsonl"); }, "nope.jsonl: no such file");
  const fs::path empty = writeFile(dir / "empty.jsonl", "\n  \n");
  expectRuntimeError([&] { importQa(empty); }, "empty.jsonl: is empty");
  expectRuntimeError([&] { importQa(empty, "flat_jsonl"); }, "empty.jsonl: is empty");
  test::expectErrorContaining<std::invalid_argument>(
      [&] { importQa(empty, "csv"); }, "unknown QA format 'csv' (known: commonsense_qa,");
}

TEST(QaImporter, FormatsListed) {
  const std::vector<std::string> expected = {"commonsense_qa", "openbookqa_jsonl", "flat_jsonl",
                                             "arc_hf",         "openbookqa_tsv",   "scienceqa",
                                             "piqa",           "glue_mrpc",        "glue_rte",
                                             "glue_cola",      "generic_jsonl"};
  EXPECT_EQ(qaFormats(), expected);
}

}  // namespace
}  // namespace mola
