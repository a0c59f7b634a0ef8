// SPDX-License-Identifier: GPL-3.0-or-later
// Llama2cTokenizer: reading tokenizer.bin, and run.c's encode and decode.
#include "model/llama2c_tokenizer.h"

#include <cstdint>
#include <cstring>
#include <stdexcept>

namespace mola {

namespace {

constexpr int32_t kMaxPlausibleTokenLength = 4096;

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& what) {
  throw std::runtime_error(path.string() + ": " + what);
}

// The file is written in the exporting machine's byte order; like run.c we read it natively.
template <typename T>
T readAt(std::string_view data, size_t offset) {
  T value;
  std::memcpy(&value, data.data() + offset, sizeof(T));
  return value;
}

}  // namespace

bool Llama2cTokenizer::looksLike(std::string_view data) {
  if (data.size() < 12) return false;
  const auto max_length = readAt<int32_t>(data, 0);
  const auto first_length = readAt<int32_t>(data, 8);
  return max_length >= 1 && max_length <= kMaxPlausibleTokenLength && first_length >= 0 &&
         first_length <= max_length && size_t(12 + first_length) <= data.size();
}

std::unique_ptr<Llama2cTokenizer> Llama2cTokenizer::parse(std::string_view data,
                                                          const std::filesystem::path& path) {
  const std::string what = "llama2.c tokenizer.bin ";
  if (data.size() < 4) fail(path, what + "is too short for its 4-byte header");
  std::unique_ptr<Llama2cTokenizer> tok(new Llama2cTokenizer);
  tok->m_max_token_length = readAt<int32_t>(data, 0);
  if (tok->m_max_token_length < 1 || tok->m_max_token_length > kMaxPlausibleTokenLength)
    fail(path, what + "has max_token_length " + std::to_string(tok->m_max_token_length) +
                   " (expected 1.." + std::to_string(kMaxPlausibleTokenLength) + ")");
  size_t at = 4;
  while (at < data.size()) {
    const std::string piece_name = "piece " + std::to_string(tok->m_pieces.size());
    if (at + 8 > data.size())
      fail(path, what + "is truncated: " + piece_name + " at byte " + std::to_string(at) +
                     " needs an 8-byte score and length, but the file ends at byte " +
                     std::to_string(data.size()));
    const auto score = readAt<float>(data, at);
    const auto length = readAt<int32_t>(data, at + 4);
    if (length < 0 || length > tok->m_max_token_length)
      fail(path, what + piece_name + " at byte " + std::to_string(at) + " has byte length " +
                     std::to_string(length) + ", outside 0..max_token_length (" +
                     std::to_string(tok->m_max_token_length) + ")");
    if (at + 8 + size_t(length) > data.size())
      fail(path, what + "is truncated: " + piece_name + " at byte " + std::to_string(at) +
                     " needs " + std::to_string(length) +
                     " bytes of text, but the file ends at byte " + std::to_string(data.size()));
    std::string text(data.substr(at + 8, size_t(length)));
    tok->m_ids.emplace(text, static_cast<int>(tok->m_pieces.size()));
    tok->m_pieces.push_back(std::move(text));
    tok->m_scores.push_back(score);
    at += 8 + size_t(length);
  }
  if (tok->m_pieces.size() < 3)
    fail(path, what + "has " + std::to_string(tok->m_pieces.size()) +
                   " pieces; at least <unk>, BOS and EOS (3) are needed");
  tok->m_has_byte_pieces = tok->m_pieces.size() >= size_t(kFirstBytePiece + 256);
  for (int b = 0; b < 256 && tok->m_has_byte_pieces; ++b)
    tok->m_has_byte_pieces = bytePieceValue(tok->m_pieces[size_t(kFirstBytePiece + b)]) == b;
  return tok;
}

const std::string& Llama2cTokenizer::piece(int id) const {
  if (id < 0 || id >= vocabSize())
    throw std::out_of_range("token id " + std::to_string(id) + " is outside the tokenizer's " +
                            std::to_string(vocabSize()) + " ids");
  return m_pieces[size_t(id)];
}

float Llama2cTokenizer::score(int id) const {
  piece(id);  // range check
  return m_scores[size_t(id)];
}

// Without the standard byte pieces a character outside the vocabulary can only be <unk> (id 0).
int Llama2cTokenizer::byteId(unsigned char byte) const {
  return m_has_byte_pieces ? kFirstBytePiece + byte : 0;
}

std::vector<int> Llama2cTokenizer::encode(std::string_view text, bool add_bos, bool add_eos) const {
  std::vector<MergeSymbol> symbols;
  auto push = [&](int id) { symbols.push_back({id, m_pieces[size_t(id)]}); };
  if (!text.empty()) {
    const int space = pieceId(m_ids, " ");
    push(space >= 0 ? space : byteId(' '));
  }
  // run.c's grouping: a byte and the continuation bytes after it, at most 4 in all.
  for (size_t i = 0; i < text.size();) {
    size_t end = i + 1;
    while (end < text.size() && end - i < 4 &&
           (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80)
      ++end;
    const std::string_view ch = text.substr(i, end - i);
    if (const int id = pieceId(m_ids, ch); id >= 0) {
      push(id);
    } else {
      for (char c : ch) push(byteId(static_cast<unsigned char>(c)));
    }
    i = end;
  }
  std::string joined;
  symbols = mergeBestPairs(std::move(symbols), [&](const MergeSymbol& a, const MergeSymbol& b) {
    joined.assign(a.text).append(b.text);
    const int id = pieceId(m_ids, joined);
    return id < 0 ? std::nullopt
                  : std::optional<std::pair<double, int>>({m_scores[size_t(id)], id});
  });
  std::vector<int> ids;
  ids.reserve(symbols.size() + 2);
  if (add_bos) ids.push_back(kBos);
  for (const MergeSymbol& s : symbols) ids.push_back(s.id);
  if (add_eos) ids.push_back(kEos);
  return ids;
}

std::string Llama2cTokenizer::decodeNext(int prev, int id) const {
  const std::string& text = piece(id);
  if (id == kBos || id == kEos) return {};
  const bool at_start = prev < 0 || prev == kBos;
  if (const int byte = bytePieceValue(text); byte >= 0) {
    // The dummy prefix falls back to the byte piece of ' ' only when " " is not a piece.
    if (at_start && byte == ' ' && pieceId(m_ids, " ") < 0) return {};
    return std::string(1, static_cast<char>(byte));
  }
  if (at_start && !text.empty() && text[0] == ' ') return text.substr(1);
  return text;
}

}  // namespace mola
