// SPDX-License-Identifier: GPL-3.0-or-later
// HfBpeTokenizer: pre-tokenizer splits, byte mapping, merge ranks, added tokens, Metaspace, errors.
#include "model/hf_bpe_tokenizer.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "expect_error.h"

namespace mola {
namespace {

using nlohmann::json;
using Views = std::vector<std::string_view>;

const std::string kLlama3Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|)"
    R"( ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

TEST(HfBpePreTokenizer, Gpt2Splits) {
  // By the regex: "'s" is a contraction; "  123" is " " (whitespace not followed by a non-space,
  // leaving the last space to the digits) then " 123"; "\n\n x" is "\n\n" then " x".
  EXPECT_EQ(splitPreTokens("Hello world's  123 !!\n\n x", PreTokenizerPattern::Gpt2),
            (Views{"Hello", " world", "'s", " ", " 123", " !!", "\n\n", " x"}));
  // Contractions are lowercase only; "'S" is punctuation then letters.
  EXPECT_EQ(splitPreTokens("IT'S end  ", PreTokenizerPattern::Gpt2),
            (Views{"IT", "'", "S", " end", "  "}));
  // Non-ASCII letters and numbers, CJK, an emoji (punctuation class).
  EXPECT_EQ(splitPreTokens("caf\xC3\xA9 \xE4\xBD\xA0\xE5\xA5\xBD \xC2\xB2 \xF0\x9F\x98\x80!",
                           PreTokenizerPattern::Gpt2),
            (Views{"caf\xC3\xA9", " \xE4\xBD\xA0\xE5\xA5\xBD", " \xC2\xB2", " \xF0\x9F\x98\x80!"}));
}

TEST(HfBpePreTokenizer, Llama3AndQwen2Splits) {
  // Digits in threes; " !!" takes the newlines after it; "\tx" joins a non-letter to letters.
  EXPECT_EQ(splitPreTokens("Hello world's 12345 !!\n\n x\tx", PreTokenizerPattern::Llama3),
            (Views{"Hello", " world", "'s", " ", "123", "45", " !!\n\n", " x", "\tx"}));
  EXPECT_EQ(splitPreTokens("x 12345", PreTokenizerPattern::Qwen2),
            (Views{"x", " ", "1", "2", "3", "4", "5"}));
  // Contractions in any case; whitespace up to the last newline, then the rest.
  EXPECT_EQ(splitPreTokens("IT'S\n \n  a", PreTokenizerPattern::Llama3),
            (Views{"IT", "'S", "\n \n", " ", " a"}));
  EXPECT_EQ(splitPreTokens("end   ", PreTokenizerPattern::Llama3), (Views{"end", "   "}));
}

TEST(HfBpePreTokenizer, RecognisesTheKnownRegexes) {
  EXPECT_EQ(recognisePreTokenizerPattern(kLlama3Regex), PreTokenizerPattern::Llama3);
  EXPECT_EQ(recognisePreTokenizerPattern(
                R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)"),
            PreTokenizerPattern::Gpt2);
  EXPECT_EQ(recognisePreTokenizerPattern(R"(\w+)"), std::nullopt);
}

TEST(HfBpePreTokenizer, Gpt2ByteToUnicode) {
  const auto& t = gpt2ByteToUnicode();
  EXPECT_EQ(t['A'], "A");
  EXPECT_EQ(t[' '], "\xC4\xA0");   // U+0120 Ġ: the 33rd unprintable byte
  EXPECT_EQ(t['\n'], "\xC4\x8A");  // U+010A Ċ
  EXPECT_EQ(t[0], "\xC4\x80");     // U+0100
  EXPECT_EQ(t[0xA0], "\xC5\x82");  // U+0142 ł
  EXPECT_EQ(t[0xAD], "\xC5\x83");  // U+0143, the last
  EXPECT_EQ(t[0xFF], "\xC3\xBF");  // ÿ is itself
}

// The character GPT-2 uses for byte b, computed here independently of the product's table.
std::string byteChar(int b) {
  int cp = b;
  if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255))) {
    int n = 0;
    for (int k = 0; k < b; ++k)
      if (!((k >= 33 && k <= 126) || (k >= 161 && k <= 172) || (k >= 174 && k <= 255))) ++n;
    cp = 256 + n;
  }
  std::string s;
  if (cp < 0x80) {
    s += char(cp);
  } else {
    s += char(0xC0 | (cp >> 6));
    s += char(0x80 | (cp & 0x3F));
  }
  return s;
}

// Byte-level: ids 0..255 are the byte characters (id = byte), then
//   256 Ġc  257 at  258 Ġcat  259 th  260 the  261 bc  262 ab  263 <|endoftext|> (special)
// and merges by rank: 0 "Ġ c", 1 "a t", 2 "Ġc at", 3 "t h", 4 "th e", 5 "b c", 6 "a b".
json byteLevelJson() {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[byteChar(b)] = b;
  const std::string g = byteChar(' ');
  const std::vector<std::string> extra = {g + "c", "at", g + "cat", "th", "the", "bc", "ab"};
  for (size_t k = 0; k < extra.size(); ++k) vocab[extra[k]] = 256 + int(k);
  vocab["<|endoftext|>"] = 263;
  json j;
  j["version"] = "1.0";
  j["added_tokens"] = json::array({{{"id", 263}, {"content", "<|endoftext|>"}, {"special", true}}});
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = {{"type", "ByteLevel"},
                        {"add_prefix_space", false},
                        {"trim_offsets", true},
                        {"use_regex", true}};
  j["post_processor"] = {{"type", "ByteLevel"}};
  j["decoder"] = {{"type", "ByteLevel"}};
  j["model"] = {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", nullptr},
                {"vocab", vocab},
                {"merges", {g + " c", "a t", g + "c at", "t h", "th e", "b c", "a b"}}};
  return j;
}

std::unique_ptr<HfBpeTokenizer> byteLevel() {
  return HfBpeTokenizer::parse(byteLevelJson().dump(), "gpt2/tokenizer.json");
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

TEST(HfBpeTokenizer, ByteLevelMergesByRank) {
  auto tok = byteLevel();
  EXPECT_EQ(tok->kind(), "hf-bpe");
  EXPECT_TRUE(tok->byteLevel());
  EXPECT_EQ(tok->vocabSize(), 264);
  // "the" -> t h e -> th (rank 3) e -> the (4); " cat" -> Ġ c a t: Ġc (0) before at (1), then
  // Ġcat (2).
  EXPECT_EQ(tok->encode("the cat", false, false), (std::vector<int>{260, 258}));
  // "abc": b c (rank 5) beats a b (rank 6), leaving [a, bc]; "cab": only a b applies.
  EXPECT_EQ(tok->encode("abc", false, false), (std::vector<int>{'a', 261}));
  EXPECT_EQ(tok->encode("cab", false, false), (std::vector<int>{'c', 262}));
  EXPECT_EQ(tok->tokenText(258),
            "\xC4\xA0"
            "cat");
}

TEST(HfBpeTokenizer, AddedTokensAreMatchedFirst) {
  auto tok = byteLevel();
  EXPECT_EQ(tok->encode("the cat<|endoftext|>abc", false, false),
            (std::vector<int>{260, 258, 263, 'a', 261}));
  // No BOS token in this vocabulary; <|endoftext|> is the EOS.
  EXPECT_EQ(tok->bosId(), -1);
  EXPECT_EQ(tok->eosId(), 263);
  EXPECT_EQ(tok->encode("abc", true, true), (std::vector<int>{'a', 261, 263}));
  EXPECT_EQ(tok->decode({260, 258, 263}), "the cat");
}

TEST(HfBpeTokenizer, EveryByteHasAToken) {
  auto tok = byteLevel();
  // é is C3 A9, characters U+00C3 and U+00A9, ids 195 and 169; the emoji's bytes likewise.
  EXPECT_EQ(tok->encode("\xC3\xA9", false, false), (std::vector<int>{0xC3, 0xA9}));
  EXPECT_EQ(tok->encode("\xF0\x9F\x98\x80", false, false),
            (std::vector<int>{0xF0, 0x9F, 0x98, 0x80}));
  for (const std::string& text :
       std::vector<std::string>{"the cat sat\n\n  on the mat!", "caf\xC3\xA9 \xF0\x9F\x98\x80 12",
                                std::string("\0\x7F\xFF", 3)}) {
    const std::vector<int> ids = tok->encode(text, false, true);
    EXPECT_EQ(tok->decode(ids), text);
    EXPECT_EQ(decodeByParts(*tok, ids), text);
  }
}

json llama3Json() {
  json j = byteLevelJson();
  // Digits: 0 "3 4", 1 "1 2", 2 "12 3"; ids 264 34, 265 12, 266 123.
  j["model"]["vocab"]["34"] = 264;
  j["model"]["vocab"]["12"] = 265;
  j["model"]["vocab"]["123"] = 266;
  j["model"]["merges"] =
      json::array({json::array({"3", "4"}), json::array({"1", "2"}), json::array({"12", "3"})});
  j["model"]["vocab"]["<|begin_of_text|>"] = 267;
  j["model"]["vocab"]["hello"] = 268;
  j["model"]["ignore_merges"] = true;
  j["added_tokens"].push_back({{"id", 267}, {"content", "<|begin_of_text|>"}, {"special", true}});
  j["pre_tokenizer"] = json::parse(R"({"type": "Sequence", "pretokenizers": [
      {"type": "Split", "pattern": {"Regex": ""}, "behavior": "Isolated", "invert": false},
      {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]})");
  j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = kLlama3Regex;
  j["post_processor"] = json::parse(R"({"type": "Sequence", "processors": [
      {"type": "ByteLevel"},
      {"type": "TemplateProcessing", "single": [
          {"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
          {"Sequence": {"id": "A", "type_id": 0}}]}]})");
  return j;
}

TEST(HfBpeTokenizer, Llama3SplitsDigitsInThrees) {
  auto tok = HfBpeTokenizer::parse(llama3Json().dump(), "llama3/tokenizer.json");
  // "12345" splits to "123" "45": 123 merges (ranks 1, 2), "4 5" has no merge. Split as one
  // GPT-2 word, "3 4" (rank 0) would merge first and give [12, 34, 5].
  EXPECT_EQ(tok->encode("12345", false, false), (std::vector<int>{266, '4', '5'}));
  json gpt2 = llama3Json();
  gpt2["pre_tokenizer"] = byteLevelJson()["pre_tokenizer"];
  EXPECT_EQ(HfBpeTokenizer::parse(gpt2.dump(), "t.json")->encode("12345", false, false),
            (std::vector<int>{265, 264, '5'}));
  // BOS from the template; ignore_merges takes a whole word that is in the vocabulary.
  EXPECT_EQ(tok->bosId(), 267);
  EXPECT_EQ(tok->encode("hello", true, false), (std::vector<int>{267, 268}));
  EXPECT_EQ(tok->decode({267, 268, 266}), "hello123");
}

// LLaMA-2 style: <unk> 0, <s> 1, </s> 2, <0x00>.. 3..258, 259 ▁, 260 a, 261 b, 262 ▁a, 263 ab,
// 264 ▁ab; merges 0 "▁ a", 1 "▁a b", 2 "a b"; byte_fallback.
json metaspaceJson() {
  const std::string sp = "\xE2\x96\x81";
  json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
  const char* hex = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b) vocab[std::string("<0x") + hex[b / 16] + hex[b % 16] + ">"] = 3 + b;
  const std::vector<std::string> extra = {sp, "a", "b", sp + "a", "ab", sp + "ab"};
  for (size_t k = 0; k < extra.size(); ++k) vocab[extra[k]] = 259 + int(k);
  json j = json::parse(R"({"added_tokens": [
      {"id": 0, "content": "<unk>", "special": true},
      {"id": 1, "content": "<s>", "special": true},
      {"id": 2, "content": "</s>", "special": true}],
    "normalizer": {"type": "Sequence", "normalizers": [
      {"type": "Prepend", "prepend": ""},
      {"type": "Replace", "pattern": {"String": " "}, "content": ""}]},
    "pre_tokenizer": null,
    "model": {"type": "BPE", "unk_token": "<unk>", "byte_fallback": true, "fuse_unk": true}})");
  j["normalizer"]["normalizers"][0]["prepend"] = sp;
  j["normalizer"]["normalizers"][1]["content"] = sp;
  j["model"]["vocab"] = vocab;
  j["model"]["merges"] = json::array({sp + " a", sp + "a b", "a b"});
  return j;
}

TEST(HfBpeTokenizer, MetaspaceWithByteFallback) {
  auto tok = HfBpeTokenizer::parse(metaspaceJson().dump(), "llama2/tokenizer.json");
  EXPECT_FALSE(tok->byteLevel());
  EXPECT_EQ(tok->bosId(), 1);
  EXPECT_EQ(tok->eosId(), 2);
  // "▁ab▁ab": both ▁a (rank 0) first, then ▁a b (rank 1).
  EXPECT_EQ(tok->encode("ab ab", true, true), (std::vector<int>{1, 264, 264, 2}));
  // é has no token: its bytes.
  EXPECT_EQ(tok->encode("a\xC3\xA9", false, false), (std::vector<int>{262, 198, 172}));
  EXPECT_EQ(tok->decode({1, 264, 264, 2}), "ab ab");
  for (const char* raw : {"ab ab", "b  a\xC3\xA9", "\xF0\x9F\x98\x80"}) {
    const std::string text = raw;
    const std::vector<int> ids = tok->encode(text, true, false);
    EXPECT_EQ(tok->decode(ids), text);
    EXPECT_EQ(decodeByParts(*tok, ids), text);
  }
  json pre = metaspaceJson();  // the newer form: a Metaspace pre-tokenizer, no normalizer
  pre["normalizer"] = nullptr;
  pre["pre_tokenizer"] = {{"type", "Metaspace"},
                          {"replacement", "\xE2\x96\x81"},
                          {"prepend_scheme", "first"},
                          {"split", false}};
  auto newer = HfBpeTokenizer::parse(pre.dump(), "t.json");
  EXPECT_EQ(newer->encode("ab ab", false, false), (std::vector<int>{264, 264}));
  EXPECT_EQ(newer->decode({264, 264}), "ab ab");
}

TEST(HfBpeTokenizer, BadFilesNameTheFileAndField) {
  const std::string text = byteLevelJson().dump();
  test::expectErrorContaining<std::runtime_error>(
      [&] { HfBpeTokenizer::parse(text.substr(0, text.size() / 2), "cut/tokenizer.json"); },
      "cut/tokenizer.json: is not valid JSON");
  json missing = byteLevelJson();
  missing["model"]["merges"].push_back("x yz");
  test::expectErrorContaining<std::runtime_error>(
      [&] { HfBpeTokenizer::parse(missing.dump(), "m.json"); },
      "m.json: model.merges[7] 'x yz': 'yz' is not in model.vocab");
  json wordpiece = byteLevelJson();
  wordpiece["model"]["type"] = "WordPiece";
  test::expectErrorContaining<std::runtime_error>(
      [&] { HfBpeTokenizer::parse(wordpiece.dump(), "w.json"); },
      "w.json: model.type is 'WordPiece'; only BPE tokenizers are supported");
  json regex = llama3Json();
  regex["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "\\w+";
  test::expectErrorContaining<std::runtime_error>(
      [&] { HfBpeTokenizer::parse(regex.dump(), "r.json"); },
      "r.json: pre_tokenizer Split regex is not one of the GPT-2, LLaMA-3 or Qwen2 patterns");
  json typed = byteLevelJson();
  typed["pre_tokenizer"]["type"] = 5;
  test::expectErrorContaining<std::runtime_error>(
      [&] { HfBpeTokenizer::parse(typed.dump(), "n.json"); },
      "n.json: has an unexpected structure");
  test::expectErrorContaining<std::runtime_error>(
      [&] { HfBpeTokenizer::parse("{\"version\": \"1.0\"}", "v.json"); },
      "has no \"model\" object");
}

}  // namespace
}  // namespace mola
