// SPDX-License-Identifier: GPL-3.0-or-later
// Tokenizer: choosing the format of a tokenizer file by its content, and the built-in byte one.
#include "model/tokenizer.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "model/byte_tokenizer.h"
#include "model/hf_bpe_tokenizer.h"
#include "model/llama2c_tokenizer.h"
#include "model/sentencepiece_tokenizer.h"
#include "text.h"

namespace mola {

namespace {

namespace fs = std::filesystem;

[[noreturn]] void fail(const fs::path& path, const std::string& what) {
  throw std::runtime_error(path.string() + ": " + what);
}

std::string readFile(const fs::path& path) {
  return readWholeFile(path, "a tokenizer file");
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::load(const fs::path& path) {
  const std::string data = readFile(path);
  if (data.empty()) fail(path, "is empty, not a tokenizer file");
  // tokenizer.bin first: its leading int32 is small, which no JSON or protobuf start can be.
  if (Llama2cTokenizer::looksLike(data)) return Llama2cTokenizer::parse(data, path);
  const size_t first = data.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && data[first] == '{') {
    const fs::path config = path.parent_path() / "tokenizer_config.json";
    std::error_code ec;
    const std::string config_json = fs::is_regular_file(config, ec) ? readFile(config) : "";
    return HfBpeTokenizer::parse(data, path, config_json);
  }
  // A ModelProto starts with a key of field 1, 2 or 3, wire type 2 (length-delimited).
  const auto lead = static_cast<unsigned char>(data[0]);
  if (lead == 0x0A || lead == 0x12 || lead == 0x1A)
    return SentencePieceTokenizer::parse(data, path);
  fail(path,
       "is not a recognised tokenizer file (expected a llama2.c tokenizer.bin, a SentencePiece "
       "tokenizer.model or a Hugging Face tokenizer.json)");
}

std::unique_ptr<Tokenizer> Tokenizer::loadFromModelDir(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) fail(dir, "is not a model directory");
  for (const char* name : {"tokenizer.json", "tokenizer.model"})
    if (fs::exists(dir / name, ec)) return load(dir / name);
  fail(dir, "has neither tokenizer.json nor tokenizer.model");
}

std::unique_ptr<Tokenizer> Tokenizer::bytes() {
  return std::make_unique<ByteTokenizer>();
}

std::string Tokenizer::decode(const std::vector<int>& ids) const {
  std::string out;
  int prev = -1;
  for (int id : ids) {
    out += decodeNext(prev, id);
    prev = id;
  }
  return out;
}

}  // namespace mola
