// SPDX-License-Identifier: GPL-3.0-or-later
// Tokenizer::load by content, loadFromModelDir, and the built-in byte tokenizer.
#include "model/tokenizer.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "expect_error.h"
#include "shared_data.h"

namespace mola {
namespace {

namespace fs = std::filesystem;

void writeFile(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

// A tokenizer.bin of <unk>, BOS, EOS, then 3 " ", 4 h, 5 i, 6 " h", 7 " hi" (scores 0).
std::string tinyBin() {
  std::string out;
  auto put32 = [&](int32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); };
  put32(6);
  for (const std::string piece : {"<unk>", "\n<s>\n", "\n</s>\n", " ", "h", "i", " h", " hi"}) {
    const float score = 0;
    out.append(reinterpret_cast<const char*>(&score), 4);
    put32(int32_t(piece.size()));
    out += piece;
  }
  return out;
}

// A ModelProto with pieces <unk> (UNKNOWN), <s>, </s> (CONTROL), ▁hi, and a unigram trainer_spec.
std::string tinyModel() {
  auto field = [](int number, const std::string& body) {
    return std::string(1, char(number << 3 | 2)) + char(body.size()) + body;
  };
  auto piece = [&](const std::string& text, int type) {
    return field(1, field(1, text) + std::string("\x15\0\0\0\0", 5) + char(3 << 3) + char(type));
  };
  return piece("<unk>", 2) + piece("<s>", 3) + piece("</s>", 3) + piece("\xE2\x96\x81hi", 1) +
         field(2, std::string("\x18\x01", 2));
}

const char* kTinyJson = R"({
  "added_tokens": [{"id": 3, "content": "<|im_end|>", "special": true}],
  "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
  "model": {"type": "BPE", "vocab": {"h": 0, "i": 1, "hi": 2, "<|im_end|>": 3}, "merges": ["h i"]}
})";

TEST(TokenizerLoad, RecognisesEachFormatByContent) {
  const fs::path dir = test::tempDir("tokenizer_load_formats");
  // File names that say nothing: only the content decides.
  writeFile(dir / "a", tinyBin());
  writeFile(dir / "b", tinyModel());
  writeFile(dir / "c", kTinyJson);
  auto a = Tokenizer::load(dir / "a");
  EXPECT_EQ(a->kind(), "llama2c");
  EXPECT_EQ(a->encode("hi", true, false), (std::vector<int>{1, 7}));
  auto b = Tokenizer::load(dir / "b");
  EXPECT_EQ(b->kind(), "sentencepiece");
  EXPECT_EQ(b->encode("hi", true, true), (std::vector<int>{1, 3, 2}));
  auto c = Tokenizer::load(dir / "c");
  EXPECT_EQ(c->kind(), "hf-bpe");
  EXPECT_EQ(c->encode("hi", false, true), (std::vector<int>{2, 3}));
  EXPECT_EQ(c->bosId(), -1);
  EXPECT_EQ(c->eosId(), 3);  // <|im_end|> by name
}

TEST(TokenizerLoad, TokenizerConfigBesideTheJsonNamesBosAndEos) {
  const fs::path dir = test::tempDir("tokenizer_load_config");
  writeFile(dir / "tokenizer.json", kTinyJson);
  writeFile(dir / "tokenizer_config.json",
            R"({"bos_token": {"content": "h", "special": true}, "eos_token": null})");
  auto tok = Tokenizer::load(dir / "tokenizer.json");
  EXPECT_EQ(tok->bosId(), 0);
  EXPECT_EQ(tok->eosId(), -1);
}

TEST(TokenizerLoad, ModelDirPrefersTokenizerJson) {
  const fs::path dir = test::tempDir("tokenizer_load_dir");
  writeFile(dir / "tokenizer.model", tinyModel());
  EXPECT_EQ(Tokenizer::loadFromModelDir(dir)->kind(), "sentencepiece");
  writeFile(dir / "tokenizer.json", kTinyJson);
  EXPECT_EQ(Tokenizer::loadFromModelDir(dir)->kind(), "hf-bpe");
  const fs::path empty = test::tempDir("tokenizer_load_empty_dir");
  test::expectErrorContaining<std::runtime_error>([&] { Tokenizer::loadFromModelDir(empty); },
                                                  "has neither tokenizer.json nor tokenizer.model");
  test::expectErrorContaining<std::runtime_error>(
      [&] { Tokenizer::loadFromModelDir(empty / "nope"); }, "is not a model directory");
}

TEST(TokenizerLoad, BadFilesNameTheFile) {
  const fs::path dir = test::tempDir("tokenizer_load_bad");
  writeFile(dir / "garbage.bin", "this is not a tokenizer, just some text\n");
  test::expectErrorContaining<std::runtime_error>(
      [&] { Tokenizer::load(dir / "garbage.bin"); },
      (dir / "garbage.bin").string() + ": is not a recognised tokenizer file");
  writeFile(dir / "empty.bin", "");
  test::expectErrorContaining<std::runtime_error>([&] { Tokenizer::load(dir / "empty.bin"); },
                                                  "empty.bin: is empty");
  test::expectErrorContaining<std::runtime_error>([&] { Tokenizer::load(dir / "missing.bin"); },
                                                  "missing.bin: no such file");
  const std::string bin = tinyBin();
  writeFile(dir / "cut.bin", bin.substr(0, bin.size() - 2));
  test::expectErrorContaining<std::runtime_error>([&] { Tokenizer::load(dir / "cut.bin"); },
                                                  "cut.bin: llama2.c tokenizer.bin is truncated");
  const std::string model = tinyModel();
  writeFile(dir / "cut.model", model.substr(0, model.size() - 1));
  test::expectErrorContaining<std::runtime_error>(
      [&] { Tokenizer::load(dir / "cut.model"); },
      "cut.model: not a valid SentencePiece model (protobuf)");
  writeFile(dir / "cut.json", std::string(kTinyJson).substr(0, 40));
  test::expectErrorContaining<std::runtime_error>([&] { Tokenizer::load(dir / "cut.json"); },
                                                  "cut.json: is not valid JSON");
}

TEST(ByteTokenizer, IdsAreBytesPlusThree) {
  auto tok = Tokenizer::bytes();
  EXPECT_EQ(tok->kind(), "bytes");
  EXPECT_EQ(tok->vocabSize(), 259);
  EXPECT_EQ(tok->bosId(), 1);
  EXPECT_EQ(tok->eosId(), 2);
  EXPECT_EQ(tok->encode("A\xC3\xA9", true, true), (std::vector<int>{1, 68, 198, 172, 2}));
  EXPECT_EQ(tok->decode({1, 68, 198, 172, 2, 0}), "A\xC3\xA9");
  EXPECT_EQ(tok->decodeNext(68, 3 + 255), "\xFF");
  EXPECT_THROW(tok->decodeNext(1, 259), std::out_of_range);
  const std::string all = [] {
    std::string s;
    for (int b = 0; b < 256; ++b) s += char(b);
    return s;
  }();
  EXPECT_EQ(tok->decode(tok->encode(all, false, false)), all);
}

}  // namespace
}  // namespace mola
