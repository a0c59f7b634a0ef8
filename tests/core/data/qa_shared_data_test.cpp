// SPDX-License-Identifier: GPL-3.0-or-later
// importQa on every file of ../shared/data: detected format, record counts, answer histograms and
// first records, all read independently with Python when the test was written.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "data/qa_importer.h"
#include "shared_data.h"

namespace mola {
namespace {

struct SharedFile {
  const char* path;  // under <shared>/data
  const char* format;
  size_t records;
  std::vector<size_t> answers;  // how many records have answer 0, 1, ...
  QaRecord first;
};

// gtest prints a parameter in the test's name; the bytes of the struct would say nothing.
void PrintTo(const SharedFile& f, std::ostream* os) {
  *os << f.path;
}

QaRecord record(std::string id, std::string question, std::string context,
                std::vector<std::string> choices, int answer) {
  QaRecord r;
  r.id = std::move(id);
  r.question = std::move(question);
  r.context = std::move(context);
  r.choices = std::move(choices);
  r.answer = answer;
  return r;
}

const std::string kMrpcQuestion = "Do sentence 1 and sentence 2 mean the same thing?";
const std::string kRteQuestion = "Does the premise entail the hypothesis?";
const std::string kColaQuestion = "Is this sentence grammatically acceptable?";

// Counts from the README's table, checked with wc -l and json.loads / str.split('\t'): no file
// has a malformed row, so nothing is skipped.
std::vector<SharedFile> sharedFiles() {
  return {
      {"commonsense_qa/train.jsonl",
       "flat_jsonl",
       9741,
       {1909, 1973, 1946, 1985, 1928},
       record("",
              "The sanctions against the school were a punishing blow, and they seemed to what "
              "the efforts the school had made to change?",
              "", {"ignore", "enforce", "authoritarian", "yell at", "avoid"}, 0)},
      {"commonsense_qa/validation.jsonl",
       "flat_jsonl",
       1221,
       {239, 255, 241, 251, 235},
       record("",
              "A revolving door is convenient for two direction travel, but it also serves as a "
              "security measure at a what?",
              "", {"bank", "library", "department store", "mall", "new york"}, 0)},
      {"arc_easy/train.jsonl",
       "flat_jsonl",
       2251,
       {548, 588, 578, 535, 2},
       record(
           "", "Which factor will most likely cause a person to develop a fever?", "",
           {"a leg muscle relaxing after exercise", "a bacterial population in the bloodstream",
            "several viral particles on the skin", "carbohydrates being digested in the stomach"},
           1)},
      {"arc_easy/validation.jsonl",
       "flat_jsonl",
       570,
       {158, 152, 142, 118, 0},
       record("", "Which technology was developed most recently?", "",
              {"cellular telephone", "television", "refrigerator", "airplane"}, 0)},
      {"arc_easy/test.jsonl",
       "flat_jsonl",
       2376,
       {596, 585, 633, 561, 1},
       record(
           "",
           "Which statement best explains why photosynthesis is the foundation of most food webs?",
           "",
           {"Sunlight is the source of energy for nearly all ecosystems.",
            "Most ecosystems are found on land instead of in water.",
            "Carbon dioxide is more available than other gases.",
            "The producers in all ecosystems are plants."},
           0)},
      {"openbookqa/train.tsv",
       "openbookqa_tsv",
       4957,
       {1378, 1212, 1146, 1221},
       record("7-980", "The sun is responsible for", "",
              {"puppies learning new tricks", "children growing up and getting old",
               "flowers wilting in a vase", "plants sprouting, blooming and wilting"},
              3)},
      {"openbookqa/dev.tsv",
       "openbookqa_tsv",
       500,
       {126, 138, 110, 126},
       record("8-376",
              "Frilled sharks and angler fish live far beneath the surface of the ocean, which is "
              "why they are known as",
              "", {"Deep sea animals", "fish", "Long Sea Fish", "Far Sea Animals"}, 0)},
      {"openbookqa/test.tsv",
       "openbookqa_tsv",
       500,
       {138, 126, 132, 104},
       record("8-343",
              "A person wants to start saving money so that they can afford a nice vacation at the "
              "end of the year. After looking over their budget and expenses, they decide the best "
              "way to save money is to",
              "",
              {"make more phone calls", "quit eating lunch out", "buy less with monopoly money",
               "have lunch with friends"},
              1)},
      {"glue/MRPC/train.tsv",
       "glue_mrpc",
       3667,
       {1194, 2473},
       record("702876-702977", kMrpcQuestion,
              "Sentence 1: Amrozi accused his brother , whom he called \" the witness \" , of "
              "deliberately distorting his evidence .\nSentence 2: Referring to him as only \" the "
              "witness \" , Amrozi accused his brother of deliberately distorting his evidence .",
              {"no", "yes"}, 1)},
      {"glue/MRPC/dev.tsv",
       "glue_mrpc",
       408,
       {129, 279},
       record("1355540-1355592", kMrpcQuestion,
              "Sentence 1: He said the foodservice pie business doesn 't fit the company 's "
              "long-term growth strategy .\nSentence 2: \" The foodservice pie business does not "
              "fit our long-term growth strategy .",
              {"no", "yes"}, 1)},
      {"glue/RTE/train.tsv",
       "glue_rte",
       2490,
       {1241, 1249},
       record("0", kRteQuestion,
              "Premise: No Weapons of Mass Destruction Found in Iraq Yet.\nHypothesis: Weapons of "
              "Mass Destruction Found in Iraq.",
              {"no", "yes"}, 0)},
      {"glue/RTE/dev.tsv",
       "glue_rte",
       277,
       {131, 146},
       record("0", kRteQuestion,
              "Premise: Dana Reeve, the widow of the actor Christopher Reeve, has died of lung "
              "cancer at age 44, according to the Christopher Reeve Foundation.\nHypothesis: "
              "Christopher Reeve had an accident.",
              {"no", "yes"}, 0)},
      {"glue/CoLA/train.tsv",
       "glue_cola",
       8551,
       {2528, 6023},
       record("", kColaQuestion,
              "Our friends won't buy this analysis, let alone the next one we propose.",
              {"no", "yes"}, 1)},
      // dev.tsv has no line end after its last row: 1,042 newlines, 1,043 records.
      {"glue/CoLA/dev.tsv",
       "glue_cola",
       1043,
       {322, 721},
       record("", kColaQuestion, "The sailors rode the breeze clear of the rocks.", {"no", "yes"},
              1)},
  };
}

class SharedQaFile : public ::testing::TestWithParam<SharedFile> {};

TEST_P(SharedQaFile, ImportsWithTheDocumentedCounts) {
  const SharedFile& f = GetParam();
  const std::filesystem::path file = test::sharedDir() / "data" / f.path;
  MOLA_NEED_SHARED_FILE(file);
  EXPECT_EQ(detectQaFormat(file), f.format);
  const QaDataset d = importQa(file);
  EXPECT_EQ(d.format, f.format);
  EXPECT_EQ(d.records.size(), f.records);
  EXPECT_TRUE(d.skipped.empty()) << d.skipped.front().line << ": " << d.skipped.front().reason;

  std::vector<size_t> answers(f.answers.size(), 0);
  for (const QaRecord& r : d.records) {
    ASSERT_GE(r.answer, 0);
    ASSERT_LT(static_cast<size_t>(r.answer), answers.size());
    ++answers[static_cast<size_t>(r.answer)];
  }
  EXPECT_EQ(answers, f.answers);

  ASSERT_FALSE(d.records.empty());
  const QaRecord& r = d.records.front();
  EXPECT_EQ(r.id, f.first.id);
  EXPECT_EQ(r.question, f.first.question);
  EXPECT_EQ(r.context, f.first.context);
  EXPECT_EQ(r.choices, f.first.choices);
  EXPECT_EQ(r.answer, f.first.answer);
}

INSTANTIATE_TEST_SUITE_P(SharedData, SharedQaFile, ::testing::ValuesIn(sharedFiles()),
                         [](const ::testing::TestParamInfo<SharedFile>& info) {
                           std::string name;
                           for (const char* c = info.param.path; *c; ++c)
                             name += std::isalnum(static_cast<unsigned char>(*c)) ? *c : '_';
                           return name;
                         });

TEST(SharedQaData, OpenBookQaRowWithARepeatedLetterKeepsFourChoices) {
  // Row 12-1145 of train.tsv writes "(D)" twice; the second belongs to choice D's text.
  const std::filesystem::path file = test::sharedDir() / "data/openbookqa/train.tsv";
  MOLA_NEED_SHARED_FILE(file);
  const QaDataset d = importQa(file);
  auto it = std::find_if(d.records.begin(), d.records.end(),
                         [](const QaRecord& r) { return r.id == "12-1145"; });
  ASSERT_NE(it, d.records.end());
  EXPECT_EQ(it->choices,
            (std::vector<std::string>{
                "newborn turtles crawling towards the sea",
                "seals clapping to the delight of an audience", "ducks sitting on their eggs",
                "baby birds chewing worms (D) mother dogs nursing their pups"}));
}

}  // namespace
}  // namespace mola
