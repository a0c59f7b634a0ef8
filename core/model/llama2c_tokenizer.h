// SPDX-License-Identifier: GPL-3.0-or-later
// Llama2cTokenizer: llama2.c's tokenizer.bin and the encoder and decoder of its run.c (torch-free).
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "model/tokenizer.h"
#include "model/tokenizer_support.h"

namespace mola {

// tokenizer.bin: int32 max_token_length, then per piece a float32 score, an int32 byte length and
// the bytes, until the end of the file (the vocabulary size is not stored). Id 0 is <unk>, 1 BOS,
// 2 EOS, and ids 3..258 the byte pieces "<0x00>".."<0xFF>". Pieces hold plain spaces where the
// SentencePiece model they were exported from had "▁".
class Llama2cTokenizer : public Tokenizer {
 public:
  static constexpr int kBos = 1;
  static constexpr int kEos = 2;
  static constexpr int kFirstBytePiece = 3;

  // Whether `data` starts like a tokenizer.bin: a max_token_length in [1, 4096] and a first piece
  // record whose length fits it. parse() then checks every record.
  static bool looksLike(std::string_view data);
  // The tokenizer in the bytes of a tokenizer.bin; errors (std::runtime_error) start with `path`
  // and name the piece and byte offset at fault (truncated record, impossible length).
  static std::unique_ptr<Llama2cTokenizer> parse(std::string_view data,
                                                 const std::filesystem::path& path);

  // As run.c's encode(): a dummy-prefix " " piece before non-empty text, one piece per UTF-8
  // character (its bytes' pieces, id byte + 3, when the character is not a piece), then merges of
  // the adjacent pair whose concatenation is the piece of highest score, leftmost first.
  std::vector<int> encode(std::string_view text, bool add_bos, bool add_eos) const override;
  // As run.c's decode(): a piece at the start (prev < 0) or after BOS drops its leading space, a
  // byte piece gives its raw byte, BOS and EOS give nothing, and every other piece (<unk> too)
  // gives its text. Ids outside the vocabulary throw std::out_of_range.
  std::string decodeNext(int prev, int id) const override;

  int vocabSize() const override { return static_cast<int>(m_pieces.size()); }
  int bosId() const override { return kBos; }
  int eosId() const override { return kEos; }
  std::string kind() const override { return "llama2c"; }

  int maxTokenLength() const { return m_max_token_length; }
  const std::string& piece(int id) const;
  float score(int id) const;

 private:
  Llama2cTokenizer() = default;
  int byteId(unsigned char byte) const;

  int m_max_token_length = 0;
  std::vector<std::string> m_pieces;
  std::vector<float> m_scores;
  PieceIds m_ids;  // piece text -> its first id
  bool m_has_byte_pieces = false;
};

}  // namespace mola
