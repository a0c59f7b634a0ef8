// SPDX-License-Identifier: GPL-3.0-or-later
// ByteTokenizer: bytes to ids 3..258 and back.
#include "model/byte_tokenizer.h"

#include <stdexcept>

namespace mola {

std::vector<int> ByteTokenizer::encode(std::string_view text, bool add_bos, bool add_eos) const {
  std::vector<int> ids;
  ids.reserve(text.size() + 2);
  if (add_bos) ids.push_back(kBos);
  for (char c : text) ids.push_back(kFirstByte + static_cast<unsigned char>(c));
  if (add_eos) ids.push_back(kEos);
  return ids;
}

std::string ByteTokenizer::decodeNext(int /*prev*/, int id) const {
  if (id < 0 || id >= kVocabSize)
    throw std::out_of_range("token id " + std::to_string(id) + " is outside the byte tokenizer's " +
                            std::to_string(kVocabSize) + " ids");
  if (id < kFirstByte) return {};
  return std::string(1, static_cast<char>(id - kFirstByte));
}

}  // namespace mola
