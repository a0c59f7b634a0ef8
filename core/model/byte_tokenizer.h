// SPDX-License-Identifier: GPL-3.0-or-later
// ByteTokenizer: the built-in tiny model's tokenizer, one token per byte plus <unk>, BOS and EOS.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "model/tokenizer.h"

namespace mola {

// Ids 0 <unk>, 1 <s> (BOS), 2 </s> (EOS), and 3 + b for byte b, as llama2.c's byte-fallback
// pieces: 259 ids, no merges, so every text round-trips exactly.
class ByteTokenizer : public Tokenizer {
 public:
  static constexpr int kUnk = 0;
  static constexpr int kBos = 1;
  static constexpr int kEos = 2;
  static constexpr int kFirstByte = 3;
  static constexpr int kVocabSize = kFirstByte + 256;

  std::vector<int> encode(std::string_view text, bool add_bos, bool add_eos) const override;
  // A byte token gives its byte; <unk>, BOS and EOS give nothing. Other ids throw
  // std::out_of_range.
  std::string decodeNext(int prev, int id) const override;

  int vocabSize() const override { return kVocabSize; }
  int bosId() const override { return kBos; }
  int eosId() const override { return kEos; }
  std::string kind() const override { return "bytes"; }
};

}  // namespace mola
