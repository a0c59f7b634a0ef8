// SPDX-License-Identifier: GPL-3.0-or-later
// Synthetic QA: the PRNG against splitmix64's reference outputs, determinism, balance, correctness.
#include "data/synthetic_qa.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "expect_error.h"
#include "split_mix64.h"

namespace mola {
namespace {

bool sameRecords(const std::vector<QaRecord>& a, const std::vector<QaRecord>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].id != b[i].id || a[i].question != b[i].question || a[i].choices != b[i].choices ||
        a[i].answer != b[i].answer || a[i].context != b[i].context)
      return false;
  return true;
}

// The answer each question asks for, worked out independently of the generator's tables.
std::string expectedAnswer(const QaRecord& r) {
  const std::string& q = r.question;
  if (q == "Which number is largest?") {
    int best = -1;
    std::string text;
    for (const std::string& c : r.choices)
      if (std::stoi(c) > best) best = std::stoi(c), text = c;
    return text;
  }
  const std::string after = "What letter comes after ";
  if (q.rfind(after, 0) == 0) return std::string(1, static_cast<char>(q[after.size()] + 1));
  const std::string opposite = "What is the opposite of ";
  if (q.rfind(opposite, 0) == 0) {
    const std::map<std::string, std::string> pairs = {
        {"hot", "cold"},   {"big", "small"},   {"up", "down"},    {"fast", "slow"},
        {"left", "right"}, {"open", "closed"}, {"day", "night"},  {"wet", "dry"},
        {"hard", "soft"},  {"light", "dark"},  {"early", "late"}, {"full", "empty"},
        {"happy", "sad"},  {"rich", "poor"},   {"high", "low"},   {"in", "out"}};
    const std::string word = q.substr(opposite.size(), q.size() - opposite.size() - 1);
    for (const auto& [a, b] : pairs) {
      if (a == word) return b;
      if (b == word) return a;
    }
    return "?";
  }
  const std::map<std::string, std::set<std::string>> categories = {
      {"Which word is a colour?",
       {"red", "blue", "green", "yellow", "purple", "pink", "brown", "black", "white", "grey"}},
      {"Which word is an animal?",
       {"cat", "dog", "horse", "cow", "sheep", "lion", "tiger", "mouse", "rabbit", "goat"}},
      {"Which word is a fruit?",
       {"apple", "banana", "grape", "mango", "pear", "melon", "fig", "papaya", "guava", "coconut"}},
      {"Which word is a tool?",
       {"hammer", "saw", "drill", "wrench", "chisel", "pliers", "axe", "shovel", "rake", "spade"}},
  };
  auto it = categories.find(q);
  if (it == categories.end()) return "?";
  std::string found = "?";
  int members = 0;
  for (const std::string& c : r.choices)
    if (it->second.count(c)) found = c, ++members;
  return members == 1 ? found : "?";  // exactly one choice may fit the category
}

TEST(SplitMix64, MatchesTheReferenceOutputs) {
  // The first outputs of Vigna's splitmix64.c for seed 1234567.
  SplitMix64 rng(1234567);
  EXPECT_EQ(rng.next(), 6457827717110365317ull);
  EXPECT_EQ(rng.next(), 3203168211198807973ull);
  EXPECT_EQ(rng.next(), 9817491932198370423ull);
  EXPECT_EQ(rng.next(), 4593380528125082431ull);
  EXPECT_EQ(rng.next(), 16408922859458223821ull);
}

TEST(SplitMix64, BelowStaysInRangeAndCoversIt) {
  SplitMix64 rng(7);
  std::vector<int> seen(6, 0);
  for (int i = 0; i < 6000; ++i) ++seen.at(rng.below(6));
  for (int count : seen) EXPECT_NEAR(count, 1000, 150);
  std::vector<int> v = {1, 2, 3, 4, 5};
  rng.shuffle(v);
  std::vector<int> sorted = v;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, (std::vector<int>{1, 2, 3, 4, 5}));
}

TEST(SyntheticQa, SameSeedSameRecordsDifferentSeedsDiffer) {
  for (const std::string& task : syntheticTaskNames()) {
    const auto a = makeSyntheticQa(task, 50, 42);
    EXPECT_TRUE(sameRecords(a, makeSyntheticQa(task, 50, 42))) << task;
    EXPECT_FALSE(sameRecords(a, makeSyntheticQa(task, 50, 43))) << task;
    // A longer run starts with the shorter one.
    const auto longer = makeSyntheticQa(task, 80, 42);
    EXPECT_TRUE(sameRecords(a, {longer.begin(), longer.begin() + 50})) << task;
  }
}

TEST(SyntheticQa, EveryRecordIsValidShortAndCorrect) {
  for (const std::string& task : syntheticTaskNames()) {
    for (int n : {2, 4, 7}) {
      const auto records = makeSyntheticQa(task, 300, 5, n);
      ASSERT_EQ(records.size(), 300u);
      for (size_t i = 0; i < records.size(); ++i) {
        const QaRecord& r = records[i];
        SCOPED_TRACE(task + " n=" + std::to_string(n) + " record " + std::to_string(i));
        EXPECT_EQ(r.id, task + "-" + std::to_string(i));
        EXPECT_LT(r.question.size(), 60u);
        EXPECT_TRUE(r.context.empty());
        ASSERT_EQ(r.choices.size(), static_cast<size_t>(n));
        EXPECT_EQ(std::set<std::string>(r.choices.begin(), r.choices.end()).size(),
                  r.choices.size())
            << "choices must be distinct";
        ASSERT_GE(r.answer, 0);
        ASSERT_LT(r.answer, n);
        EXPECT_EQ(r.choices[static_cast<size_t>(r.answer)], expectedAnswer(r)) << r.question;
      }
    }
  }
}

TEST(SyntheticQa, AnswerPositionsAreBalanced) {
  for (const std::string& task : syntheticTaskNames()) {
    std::vector<int> at(4, 0);
    for (const QaRecord& r : makeSyntheticQa(task, 400, 11)) ++at[static_cast<size_t>(r.answer)];
    EXPECT_EQ(at, (std::vector<int>{100, 100, 100, 100})) << task;

    std::vector<int> at5(5, 0);
    for (const QaRecord& r : makeSyntheticQa(task, 103, 3, 5)) ++at5[static_cast<size_t>(r.answer)];
    for (int count : at5) EXPECT_TRUE(count == 20 || count == 21) << task << ": " << count;
  }
}

TEST(SyntheticQa, MixedDrawsEveryKind) {
  std::set<std::string> kinds;
  for (const QaRecord& r : makeSyntheticQa("mixed", 200, 1))
    kinds.insert(r.question.substr(0, r.question.find(' ', 6)));
  EXPECT_EQ(kinds, (std::set<std::string>{"Which number", "Which word", "What letter", "What is"}));
}

TEST(SyntheticQa, LargestUsesTwoDigitsBeyondTenChoices) {
  for (const QaRecord& r : makeSyntheticQa("largest", 20, 9, 26)) {
    EXPECT_EQ(r.choices.size(), 26u);
    for (const std::string& c : r.choices) EXPECT_LT(std::stoi(c), 100);
  }
}

TEST(SyntheticQa, BadArgumentsAreNamed) {
  auto expectError = [](auto f, const std::string& needle) {
    test::expectErrorContaining<std::invalid_argument>(f, needle);
  };
  expectError([] { makeSyntheticQa("sums", 10, 1); }, "unknown synthetic task 'sums' (known: ");
  expectError([] { makeSyntheticQa("largest", -1, 1); }, "must not be negative");
  expectError([] { makeSyntheticQa("largest", 10, 1, 1); }, "takes 2 to 26 choices (got 1)");
  expectError([] { makeSyntheticQa("next_letter", 10, 1, 26); }, "takes 2 to 25 choices (got 26)");
  EXPECT_TRUE(makeSyntheticQa("opposite", 0, 1).empty());
  EXPECT_EQ(syntheticTaskNames(),
            (std::vector<std::string>{"largest", "category", "next_letter", "opposite", "mixed"}));
}

}  // namespace
}  // namespace mola
