// SPDX-License-Identifier: GPL-3.0-or-later
// The synthetic multiple-choice task generators: questions, answers and balanced positions.
#include "data/synthetic_qa.h"

#include <algorithm>
#include <array>
#include <stdexcept>
#include <utility>

#include "split_mix64.h"

namespace mola {

namespace {

struct Category {
  std::string_view question;
  std::array<std::string_view, 10> words;
};

// No word belongs to two categories (no "orange", "lime", "kiwi", "cherry").
constexpr std::array<Category, 4> kCategories = {{
    {"Which word is a colour?",
     {"red", "blue", "green", "yellow", "purple", "pink", "brown", "black", "white", "grey"}},
    {"Which word is an animal?",
     {"cat", "dog", "horse", "cow", "sheep", "lion", "tiger", "mouse", "rabbit", "goat"}},
    {"Which word is a fruit?",
     {"apple", "banana", "grape", "mango", "pear", "melon", "fig", "papaya", "guava", "coconut"}},
    {"Which word is a tool?",
     {"hammer", "saw", "drill", "wrench", "chisel", "pliers", "axe", "shovel", "rake", "spade"}},
}};

// Each word has exactly one opposite among them.
constexpr std::array<std::pair<std::string_view, std::string_view>, 16> kOpposites = {{
    {"hot", "cold"},
    {"big", "small"},
    {"up", "down"},
    {"fast", "slow"},
    {"left", "right"},
    {"open", "closed"},
    {"day", "night"},
    {"wet", "dry"},
    {"hard", "soft"},
    {"light", "dark"},
    {"early", "late"},
    {"full", "empty"},
    {"happy", "sad"},
    {"rich", "poor"},
    {"high", "low"},
    {"in", "out"},
}};

// A question, its answer, and the distractors (num_choices - 1 of them, distinct).
struct Draft {
  std::string question;
  std::string answer;
  std::vector<std::string> distractors;
};

Draft largest(SplitMix64& rng, size_t n) {
  const int range = n <= 10 ? 10 : 100;
  std::vector<int> pool(static_cast<size_t>(range));
  for (int i = 0; i < range; ++i) pool[static_cast<size_t>(i)] = i;
  std::vector<int> numbers = rng.sample(pool, n);
  auto top = std::max_element(numbers.begin(), numbers.end());
  Draft d{"Which number is largest?", std::to_string(*top), {}};
  numbers.erase(top);
  for (int x : numbers) d.distractors.push_back(std::to_string(x));
  return d;
}

Draft category(SplitMix64& rng, size_t n) {
  const size_t c = rng.below(kCategories.size());
  Draft d{std::string(kCategories[c].question),
          std::string(kCategories[c].words[rng.below(kCategories[c].words.size())]),
          {}};
  std::vector<std::string> others;
  for (size_t o = 0; o < kCategories.size(); ++o)
    if (o != c)
      for (std::string_view w : kCategories[o].words) others.emplace_back(w);
  d.distractors = rng.sample(others, n - 1);
  return d;
}

Draft nextLetter(SplitMix64& rng, size_t n) {
  const char x = static_cast<char>('a' + rng.below(25));  // a..y: z has no successor
  const char answer = static_cast<char>(x + 1);
  Draft d{std::string("What letter comes after ") + x + "?", std::string(1, answer), {}};
  std::vector<std::string> others;
  for (char c = 'a'; c <= 'z'; ++c)
    if (c != x && c != answer) others.emplace_back(1, c);
  d.distractors = rng.sample(others, n - 1);
  return d;
}

Draft opposite(SplitMix64& rng, size_t n) {
  const size_t pair = rng.below(kOpposites.size());
  const bool flip = rng.below(2) == 1;
  const std::string_view word = flip ? kOpposites[pair].second : kOpposites[pair].first;
  const std::string_view answer = flip ? kOpposites[pair].first : kOpposites[pair].second;
  Draft d{"What is the opposite of " + std::string(word) + "?", std::string(answer), {}};
  std::vector<std::string> others;
  for (size_t p = 0; p < kOpposites.size(); ++p)
    if (p != pair) {
      others.emplace_back(kOpposites[p].first);
      others.emplace_back(kOpposites[p].second);
    }
  d.distractors = rng.sample(others, n - 1);
  return d;
}

using Generator = Draft (*)(SplitMix64&, size_t);
constexpr std::array<std::pair<std::string_view, Generator>, 4> kGenerators = {{
    {"largest", largest},
    {"category", category},
    {"next_letter", nextLetter},
    {"opposite", opposite},
}};

}  // namespace

const std::vector<SyntheticTask>& syntheticTasks() {
  static const std::vector<SyntheticTask> kTasks = {
      {"largest", "pick the largest number: \"Which number is largest?\"", 26},
      {"category", "pick the word of a category: \"Which word is a colour?\"", 26},
      {"next_letter", "the next letter of the alphabet: \"What letter comes after k?\"", 25},
      {"opposite", "the antonym: \"What is the opposite of hot?\"", 26},
      {"mixed", "each record from one of largest, category, next_letter, opposite", 25},
  };
  return kTasks;
}

std::vector<std::string> syntheticTaskNames() {
  std::vector<std::string> names;
  for (const SyntheticTask& t : syntheticTasks()) names.emplace_back(t.name);
  return names;
}

std::vector<QaRecord> makeSyntheticQa(const std::string& task, int count, uint64_t seed,
                                      int num_choices) {
  const auto& tasks = syntheticTasks();
  auto it = std::find_if(tasks.begin(), tasks.end(),
                         [&](const SyntheticTask& t) { return t.name == task; });
  if (it == tasks.end()) {
    std::string known;
    for (const SyntheticTask& t : tasks) known += (known.empty() ? "" : ", ") + std::string(t.name);
    throw std::invalid_argument("unknown synthetic task '" + task + "' (known: " + known + ")");
  }
  if (count < 0)
    throw std::invalid_argument("the number of synthetic records must not be negative (got " +
                                std::to_string(count) + ")");
  if (num_choices < 2 || num_choices > it->max_choices)
    throw std::invalid_argument("synthetic task '" + task + "' takes 2 to " +
                                std::to_string(it->max_choices) + " choices (got " +
                                std::to_string(num_choices) + ")");

  const size_t n = static_cast<size_t>(num_choices);
  const bool mixed = task == "mixed";
  size_t fixed = 0;  // the generator of a single-task run
  while (!mixed && kGenerators[fixed].first != task) ++fixed;
  SplitMix64 rng(seed);
  std::vector<size_t> positions(n);
  std::vector<QaRecord> records;
  records.reserve(static_cast<size_t>(count));
  for (size_t i = 0; i < static_cast<size_t>(count); ++i) {
    if (i % n == 0) {
      for (size_t p = 0; p < n; ++p) positions[p] = p;
      rng.shuffle(positions);
    }
    const size_t g = mixed ? rng.below(kGenerators.size()) : fixed;
    Draft d = kGenerators[g].second(rng, n);
    QaRecord r;
    r.id = task + "-" + std::to_string(i);
    r.question = std::move(d.question);
    r.answer = static_cast<int>(positions[i % n]);
    for (size_t p = 0, next = 0; p < n; ++p)
      r.choices.push_back(p == positions[i % n] ? d.answer : std::move(d.distractors[next++]));
    records.push_back(std::move(r));
  }
  return records;
}

}  // namespace mola
