// SPDX-License-Identifier: GPL-3.0-or-later
// Llama2cTokenizer on a hand-made tokenizer.bin: merge order, byte fallback, decoding, bad files.
#include "model/llama2c_tokenizer.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "expect_error.h"
#include "shared_data.h"

namespace mola {
namespace {

namespace fs = std::filesystem;

// tokenizer.bin bytes: int32 max length, then (float32 score, int32 length, bytes) per piece.
std::string tokenizerBin(const std::vector<std::pair<std::string, float>>& pieces) {
  int32_t max_length = 0;
  for (const auto& p : pieces) max_length = std::max(max_length, int32_t(p.first.size()));
  std::string out(reinterpret_cast<const char*>(&max_length), 4);
  for (const auto& [text, score] : pieces) {
    const auto length = int32_t(text.size());
    out.append(reinterpret_cast<const char*>(&score), 4);
    out.append(reinterpret_cast<const char*>(&length), 4);
    out += text;
  }
  return out;
}

// <unk>, BOS, EOS, the 256 byte pieces (ids 3..258), then these (ids from 259):
//   259 " "  260 "a"  261 "b"  262 "c"  263 "ab"  264 "bc"  265 " a"  266 "aa"
std::vector<std::pair<std::string, float>> tinyPieces() {
  std::vector<std::pair<std::string, float>> p = {{"<unk>", 0}, {"\n<s>\n", 0}, {"\n</s>\n", 0}};
  const char* hex = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b)
    p.push_back({std::string("<0x") + hex[b / 16] + hex[b % 16] + ">", 0});
  for (auto piece : std::vector<std::pair<std::string, float>>{{" ", -100},
                                                               {"a", -100},
                                                               {"b", -100},
                                                               {"c", -100},
                                                               {"ab", -1},
                                                               {"bc", -0.5f},
                                                               {" a", -2},
                                                               {"aa", -1}})
    p.push_back(piece);
  return p;
}

std::unique_ptr<Llama2cTokenizer> tiny() {
  return Llama2cTokenizer::parse(tokenizerBin(tinyPieces()), "tiny.bin");
}

std::string decodeByParts(const Tokenizer& tok, const std::vector<int>& ids) {
  std::string out;
  int prev = -1;
  for (int id : ids) {
    out += tok.decodeNext(prev, id);
    prev = id;
  }
  return out;
}

TEST(Llama2cTokenizer, ReadsPiecesAndIds) {
  auto tok = tiny();
  EXPECT_EQ(tok->vocabSize(), 267);
  EXPECT_EQ(tok->bosId(), 1);
  EXPECT_EQ(tok->eosId(), 2);
  EXPECT_EQ(tok->kind(), "llama2c");
  EXPECT_EQ(tok->maxTokenLength(), 6);  // "<0x00>" and "\n</s>\n"
  EXPECT_EQ(tok->piece(3), "<0x00>");
  EXPECT_EQ(tok->piece(265), " a");
  EXPECT_FLOAT_EQ(tok->score(264), -0.5f);
}

TEST(Llama2cTokenizer, MergesTheHighestScoringPairFirst) {
  auto tok = tiny();
  // " abc" starts as [" ", a, b, c]. Pairs: " a" -2, "ab" -1, "bc" -0.5: "bc" wins, giving
  // [" ", a, bc]; then " a" (-2) merges ("abc" is no piece) and " abc" is no piece either.
  EXPECT_EQ(tok->encode("abc", true, true), (std::vector<int>{1, 265, 264, 2}));
  EXPECT_EQ(tok->encode("abc", false, false), (std::vector<int>{265, 264}));
}

TEST(Llama2cTokenizer, EqualScoresMergeTheLeftmostPair) {
  auto tok = tiny();
  // [" ", a, a, a]: both "aa" pairs score -1 (above " a" at -2); the left one merges, leaving
  // [" ", aa, a] where neither " aa" nor "aaa" is a piece. Merging the right one first would
  // have let " a" merge: [" a", aa].
  EXPECT_EQ(tok->encode("aaa", false, false), (std::vector<int>{259, 266, 260}));
}

TEST(Llama2cTokenizer, CharactersOutsideTheVocabularyFallBackToBytes) {
  auto tok = tiny();
  // é is C3 A9: byte pieces 0xC3 + 3 = 198 and 0xA9 + 3 = 172; " a" still merges before them.
  EXPECT_EQ(tok->encode("a\xC3\xA9", false, false), (std::vector<int>{265, 198, 172}));
  // U+1F600 is F0 9F 98 80.
  EXPECT_EQ(tok->encode("\xF0\x9F\x98\x80", false, false),
            (std::vector<int>{259, 0xF0 + 3, 0x9F + 3, 0x98 + 3, 0x80 + 3}));
  EXPECT_EQ(tok->decode({1, 265, 198, 172}), "a\xC3\xA9");
}

TEST(Llama2cTokenizer, EmptyTextHasNoDummyPrefix) {
  auto tok = tiny();
  EXPECT_EQ(tok->encode("", true, false), (std::vector<int>{1}));
  EXPECT_EQ(tok->encode("", true, true), (std::vector<int>{1, 2}));
  EXPECT_TRUE(tok->encode("", false, false).empty());
}

TEST(Llama2cTokenizer, DecodingDropsTheSpaceOfTheFirstPieceOnly) {
  auto tok = tiny();
  EXPECT_EQ(tok->decodeNext(1, 265), "a");     // after BOS
  EXPECT_EQ(tok->decodeNext(-1, 265), "a");    // at the start
  EXPECT_EQ(tok->decodeNext(260, 265), " a");  // mid-text
  EXPECT_EQ(tok->decodeNext(265, 2), "");      // EOS
  EXPECT_EQ(tok->decodeNext(265, 0), "<unk>");
  EXPECT_EQ(tok->decodeNext(265, 3 + 'x'), "x");
  EXPECT_THROW(tok->decodeNext(1, 267), std::out_of_range);
  EXPECT_THROW(tok->decodeNext(1, -1), std::out_of_range);
}

TEST(Llama2cTokenizer, RoundTripsAndStreamsLikeDecode) {
  auto tok = tiny();
  for (const std::string& text : std::vector<std::string>{"abc cab", "a b  c", " leading",
                                                          "trailing ", "a\xC3\xA9\xF0\x9F\x98\x80",
                                                          "x\ny\tz", std::string("nul\0byte", 8)}) {
    for (bool bos : {false, true}) {
      const std::vector<int> ids = tok->encode(text, bos, true);
      EXPECT_EQ(tok->decode(ids), text) << text;
      EXPECT_EQ(decodeByParts(*tok, ids), tok->decode(ids)) << text;
    }
  }
}

TEST(Llama2cTokenizer, TruncatedFileNamesTheFileAndThePiece) {
  const std::string full = tokenizerBin(tinyPieces());
  // The last piece is "aa" (id 266): one byte short cuts its text, five bytes its header.
  test::expectErrorContaining<std::runtime_error>(
      [&] { Llama2cTokenizer::parse(full.substr(0, full.size() - 1), "cut/tokenizer.bin"); },
      "cut/tokenizer.bin: llama2.c tokenizer.bin is truncated: piece 266");
  test::expectErrorContaining<std::runtime_error>(
      [&] { Llama2cTokenizer::parse(full.substr(0, full.size() - 5), "cut/tokenizer.bin"); },
      "needs an 8-byte score and length");
}

TEST(Llama2cTokenizer, ImpossibleLengthsAreErrors) {
  std::string data = tokenizerBin({{"<unk>", 0}, {"<s>", 0}, {"</s>", 0}});
  const int32_t bad = 99;  // more than max_token_length 5
  std::memcpy(&data[4 + 8 + 5 + 4], &bad, 4);
  test::expectErrorContaining<std::runtime_error>(
      [&] { Llama2cTokenizer::parse(data, "bad.bin"); },
      "bad.bin: llama2.c tokenizer.bin piece 1 at byte 17 has byte length 99");
  test::expectErrorContaining<std::runtime_error>(
      [&] {
        Llama2cTokenizer::parse(tokenizerBin({{"<unk>", 0}}), "one.bin");
      },
      "one.bin: llama2.c tokenizer.bin has 1 pieces");
}

TEST(Llama2cTokenizer, LooksLikeChecksTheHeader) {
  EXPECT_TRUE(Llama2cTokenizer::looksLike(tokenizerBin(tinyPieces())));
  EXPECT_FALSE(Llama2cTokenizer::looksLike("{\"model\": {}}"));
  EXPECT_FALSE(Llama2cTokenizer::looksLike("abc"));
}

}  // namespace
}  // namespace mola
