// SPDX-License-Identifier: GPL-3.0-or-later
// SentencePieceTokenizer on hand-encoded protobuf models: BPE and unigram ids, normalisation,
// errors.
#include "model/sentencepiece_tokenizer.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "expect_error.h"

namespace mola {
namespace {

using Type = SentencePieceTokenizer::PieceType;

// ---- A minimal protobuf writer, enough for ModelProto.

std::string varint(uint64_t v) {
  std::string out;
  do {
    out += char((v & 0x7F) | (v > 0x7F ? 0x80 : 0));
    v >>= 7;
  } while (v);
  return out;
}
std::string key(int field, int wire) {
  return varint(uint64_t(field) << 3 | uint64_t(wire));
}
std::string bytesField(int field, const std::string& body) {
  return key(field, 2) + varint(body.size()) + body;
}
// int32 fields are sign-extended to 64 bits, so -1 takes ten bytes.
std::string intField(int field, int64_t v) {
  return key(field, 0) + varint(uint64_t(v));
}
std::string floatField(int field, float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  std::string out = key(field, 5);
  for (int k = 0; k < 4; ++k) out += char((bits >> (8 * k)) & 0xFF);
  return out;
}

struct Piece {
  std::string text;
  float score;
  Type type = Type::Normal;
};

const std::string kSp = "\xE2\x96\x81";  // "▁"

struct ModelOptions {
  int model_type = 2;  // BPE
  bool byte_fallback = true;
  bool byte_pieces = true;
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = false;
};

// <unk> 0, <s> 1, </s> 2, optionally the byte pieces 3..258, then `pieces`.
std::string modelProto(const std::vector<Piece>& pieces, const ModelOptions& o) {
  std::vector<Piece> all = {
      {"<unk>", 0, Type::Unknown}, {"<s>", 0, Type::Control}, {"</s>", 0, Type::Control}};
  const char* hex = "0123456789ABCDEF";
  if (o.byte_pieces)
    for (int b = 0; b < 256; ++b)
      all.push_back({std::string("<0x") + hex[b / 16] + hex[b % 16] + ">", 0, Type::Byte});
  all.insert(all.end(), pieces.begin(), pieces.end());
  std::string proto;
  for (const Piece& p : all) {
    std::string body = bytesField(1, p.text) + floatField(2, p.score);
    if (p.type != Type::Normal) body += intField(3, int(p.type));
    proto += bytesField(1, body);
  }
  // trainer_spec, with fields this reader does not know in every wire type.
  const std::string trainer =
      bytesField(2, "m") + intField(3, o.model_type) + intField(4, 300) + key(99, 1) +
      std::string(8, '\x7F') + key(98, 5) + std::string(4, 'x') + intField(35, o.byte_fallback) +
      intField(40, 0) + intField(41, 1) + intField(42, 2) + intField(43, -1);
  proto += bytesField(2, trainer);
  proto +=
      bytesField(3, bytesField(1, "identity") + bytesField(2, "") +
                        intField(3, o.add_dummy_prefix) + intField(4, o.remove_extra_whitespaces));
  proto += bytesField(4, bytesField(1, "self test data, skipped"));
  return proto;
}

// BPE ids from 259 (with byte pieces):
//   259 ▁ -5, 260 a -6, 261 b -7, 262 c -8, 263 ▁a -1, 264 ab -2, 265 ▁ab -3, 266 ▁c -4, 267 bc
//   -0.5
std::vector<Piece> bpePieces() {
  return {{kSp, -5},  {"a", -6},        {"b", -7},       {"c", -8},    {kSp + "a", -1},
          {"ab", -2}, {kSp + "ab", -3}, {kSp + "c", -4}, {"bc", -0.5f}};
}

std::unique_ptr<SentencePieceTokenizer> bpe(ModelOptions o = {}) {
  return SentencePieceTokenizer::parse(modelProto(bpePieces(), o), "bpe.model");
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

TEST(SentencePieceTokenizer, ReadsTheModelProto) {
  auto tok = bpe();
  EXPECT_EQ(tok->vocabSize(), 268);
  EXPECT_EQ(tok->kind(), "sentencepiece");
  EXPECT_EQ(tok->modelType(), SentencePieceTokenizer::ModelType::Bpe);
  EXPECT_EQ(tok->unkId(), 0);
  EXPECT_EQ(tok->bosId(), 1);
  EXPECT_EQ(tok->eosId(), 2);
  EXPECT_EQ(tok->padId(), -1);
  EXPECT_TRUE(tok->byteFallback());
  EXPECT_TRUE(tok->addDummyPrefix());
  EXPECT_FALSE(tok->removeExtraWhitespaces());
  EXPECT_EQ(tok->piece(263), kSp + "a");
  EXPECT_FLOAT_EQ(tok->score(267), -0.5f);
  EXPECT_EQ(tok->pieceType(1), Type::Control);
  EXPECT_EQ(tok->pieceType(3 + 0x41), Type::Byte);
}

TEST(SentencePieceTokenizer, BpeMergesByScore) {
  auto tok = bpe();
  // "▁abc": pairs ▁a -1, ab -2, bc -0.5: bc first, then ▁a; "▁abc" is no piece.
  EXPECT_EQ(tok->encode("abc", true, true), (std::vector<int>{1, 263, 267, 2}));
  // "▁ab▁c": ▁a (-1), then ▁ab (-3) and ▁c (-4).
  EXPECT_EQ(tok->encode("ab c", false, false), (std::vector<int>{265, 266}));
  EXPECT_EQ(tok->decode({1, 265, 266, 2}), "ab c");
}

TEST(SentencePieceTokenizer, BpeFallsBackToBytesOrUnk) {
  // é (C3 A9) has no piece: its byte pieces 0xC3 + 3 and 0xA9 + 3.
  EXPECT_EQ(bpe()->encode("\xC3\xA9", false, false), (std::vector<int>{259, 198, 172}));
  EXPECT_EQ(bpe()->decode({259, 198, 172}), "\xC3\xA9");
  ModelOptions no_bytes;
  no_bytes.byte_fallback = false;
  no_bytes.byte_pieces = false;
  auto tok = bpe(no_bytes);
  ASSERT_EQ(tok->vocabSize(), 12);
  // Without the byte pieces: <unk> 0, <s>, </s>, ▁ 3, a 4, b 5, c 6, ▁a 7, ...
  EXPECT_EQ(tok->encode("a\xC3\xA9", false, false), (std::vector<int>{7, 0}));
  EXPECT_EQ(tok->decode({7, 0}), "a \xE2\x81\x87 ");
}

TEST(SentencePieceTokenizer, NormalisationOptions) {
  ModelOptions collapse;
  collapse.remove_extra_whitespaces = true;
  // "  ab   c " becomes "ab c", so "▁ab▁c".
  EXPECT_EQ(bpe(collapse)->encode("  ab   c ", false, false), (std::vector<int>{265, 266}));
  EXPECT_EQ(bpe(collapse)->encode("   ", true, false), (std::vector<int>{1}));
  // Without collapsing, the extra spaces stay as ▁ pieces: "▁▁ab" is [▁, ▁ab].
  EXPECT_EQ(bpe()->encode(" ab", false, false), (std::vector<int>{259, 265}));
  EXPECT_EQ(bpe()->decode({259, 265}), " ab");
  ModelOptions no_prefix;
  no_prefix.add_dummy_prefix = false;
  EXPECT_EQ(bpe(no_prefix)->encode("ab", false, false), (std::vector<int>{264}));
  EXPECT_EQ(bpe(no_prefix)->decode({264, 266}), "ab c");
}

TEST(SentencePieceTokenizer, DecodeRoundTripsAndStreams) {
  auto tok = bpe();
  for (const char* raw : {"abc cab", "a  b", "c\xC3\xA9 \xF0\x9F\x98\x80", "x"}) {
    const std::string text = raw;
    const std::vector<int> ids = tok->encode(text, true, true);
    EXPECT_EQ(tok->decode(ids), text);
    EXPECT_EQ(decodeByParts(*tok, ids), tok->decode(ids));
    EXPECT_EQ(tok->decode(tok->encode(text, false, false)), text);
  }
  EXPECT_EQ(tok->decodeNext(262, 263), " a");  // mid-text, ▁ is a space
  EXPECT_EQ(tok->decodeNext(1, 263), "a");     // after BOS the dummy prefix goes
  EXPECT_THROW(tok->decodeNext(1, 268), std::out_of_range);
}

TEST(SentencePieceTokenizer, UserDefinedPiecesAreCutOutFirst) {
  std::vector<Piece> pieces = bpePieces();
  pieces.push_back({"<u>", 0, Type::UserDefined});  // id 268
  auto tok = SentencePieceTokenizer::parse(modelProto(pieces, {}), "user.model");
  // "▁a<u>b": "▁a" is one piece, "<u>" is never split, "b" stands alone.
  EXPECT_EQ(tok->encode("a<u>b", false, false), (std::vector<int>{263, 268, 261}));
  EXPECT_EQ(tok->decode({263, 268, 261}), "a<u>b");
}

// Unigram ids from 259 (with byte pieces):
//   259 ▁ -3, 260 a -2, 261 b -2, 262 c -2.5, 263 ▁a -2.5, 264 ab -3, 265 ▁ab -6
std::unique_ptr<SentencePieceTokenizer> unigram(ModelOptions o) {
  o.model_type = 1;
  return SentencePieceTokenizer::parse(modelProto({{kSp, -3},
                                                   {"a", -2},
                                                   {"b", -2},
                                                   {"c", -2.5f},
                                                   {kSp + "a", -2.5f},
                                                   {"ab", -3},
                                                   {kSp + "ab", -6}},
                                                  o),
                                       "unigram.model");
}

TEST(SentencePieceTokenizer, UnigramTakesTheBestTotalScore) {
  auto tok = unigram({});
  EXPECT_EQ(tok->modelType(), SentencePieceTokenizer::ModelType::Unigram);
  // "▁ab": ▁|a|b -7, ▁a|b -4.5, ▁|ab -6, ▁ab -6.
  EXPECT_EQ(tok->encode("ab", false, false), (std::vector<int>{263, 261}));
  // "▁abab", best score to each boundary: ▁ -3; ▁a -2.5; ▁a|b -4.5; +a -6.5; then the end is
  // either -6.5 + b = -8.5 or -4.5 + ab = -7.5: ▁a|b|ab.
  EXPECT_EQ(tok->encode("abab", true, false), (std::vector<int>{1, 263, 261, 264}));
  EXPECT_EQ(tok->decode({1, 263, 261, 264}), "abab");
}

TEST(SentencePieceTokenizer, UnigramUnknownCharacters) {
  // With byte fallback: é's bytes.
  EXPECT_EQ(unigram({})->encode("a\xC3\xA9", false, false), (std::vector<int>{263, 198, 172}));
  ModelOptions no_bytes;
  no_bytes.byte_fallback = false;
  no_bytes.byte_pieces = false;
  // ▁ 3, a 4, b 5, c 6, ▁a 7: a run of unknown characters is one <unk>.
  auto tok = unigram(no_bytes);
  EXPECT_EQ(tok->encode("a\xC3\xA9\xC3\xA9"
                        "b",
                        false, false),
            (std::vector<int>{7, 0, 5}));
}

TEST(SentencePieceTokenizer, TruncatedOrForeignDataNamesTheFile) {
  const std::string full = modelProto(bpePieces(), {});
  test::expectErrorContaining<std::runtime_error>(
      [&] { SentencePieceTokenizer::parse(full.substr(0, 100), "m/tokenizer.model"); },
      "m/tokenizer.model: not a valid SentencePiece model (protobuf)");
  test::expectErrorContaining<std::runtime_error>(
      [&] { SentencePieceTokenizer::parse(full.substr(0, 100), "m/tokenizer.model"); },
      "truncated");
  // Cut exactly after the three special pieces: valid protobuf, but no trainer_spec.
  const size_t three =
      bytesField(1, bytesField(1, "<unk>") + floatField(2, 0) + intField(3, 2)).size() +
      bytesField(1, bytesField(1, "<s>") + floatField(2, 0) + intField(3, 3)).size() +
      bytesField(1, bytesField(1, "</s>") + floatField(2, 0) + intField(3, 3)).size();
  test::expectErrorContaining<std::runtime_error>(
      [&] { SentencePieceTokenizer::parse(full.substr(0, three), "m/tokenizer.model"); },
      "m/tokenizer.model: SentencePiece model has no trainer_spec");
  // A score sent as a varint instead of a fixed32.
  const std::string wrong = bytesField(1, bytesField(1, "x") + intField(2, 5));
  test::expectErrorContaining<std::runtime_error>(
      [&] { SentencePieceTokenizer::parse(wrong, "w.model"); },
      "field 2 has wire type 0, expected 5");
  ModelOptions word;
  word.model_type = 3;
  test::expectErrorContaining<std::runtime_error>(
      [&] { SentencePieceTokenizer::parse(modelProto(bpePieces(), word), "word.model"); },
      "model_type 3 (WORD); only UNIGRAM (1) and BPE (2) are supported");
}

}  // namespace
}  // namespace mola
