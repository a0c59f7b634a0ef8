// SPDX-License-Identifier: GPL-3.0-or-later
// The real stories260K tokenizer (../shared): ids against run.c's algorithm, exact round trips.
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "model/llama2c_tokenizer.h"
#include "model/tokenizer.h"
#include "shared_data.h"

namespace mola {
namespace {

namespace fs = std::filesystem;

const char* kSentence = "Once upon a time, there was a little girl named Lily.";

fs::path tokenizerFile() {
  return test::sharedDir() / "models/stories260K/tok512.bin";
}

// The piece table, read here independently of the product's reader.
struct PieceTable {
  std::vector<std::string> pieces;
  std::vector<float> scores;

  explicit PieceTable(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    int32_t max_length = 0;
    in.read(reinterpret_cast<char*>(&max_length), 4);
    float score;
    int32_t length;
    while (in.read(reinterpret_cast<char*>(&score), 4) &&
           in.read(reinterpret_cast<char*>(&length), 4)) {
      std::string piece(size_t(length), '\0');
      in.read(piece.data(), length);
      pieces.push_back(piece);
      scores.push_back(score);
    }
  }
  int find(const std::string& piece) const {
    for (size_t i = 0; i < pieces.size(); ++i)
      if (pieces[i] == piece) return int(i);
    return -1;
  }
  // run.c's encode() as written there: rescan every pair after each merge, O(n^2).
  std::vector<int> runCEncode(const std::string& text) const {
    std::vector<int> ids = {find(" ")};
    for (size_t i = 0; i < text.size();) {
      size_t j = i + 1;
      while (j < text.size() && (static_cast<unsigned char>(text[j]) & 0xC0) == 0x80 && j - i < 4)
        ++j;
      const int id = find(text.substr(i, j - i));
      if (id >= 0) {
        ids.push_back(id);
      } else {
        for (size_t k = i; k < j; ++k) ids.push_back(static_cast<unsigned char>(text[k]) + 3);
      }
      i = j;
    }
    while (true) {
      float best = -1e10f;
      int best_id = -1;
      size_t best_at = 0;
      for (size_t i = 0; i + 1 < ids.size(); ++i) {
        const int id = find(pieces[size_t(ids[i])] + pieces[size_t(ids[i + 1])]);
        if (id >= 0 && scores[size_t(id)] > best) {
          best = scores[size_t(id)];
          best_id = id;
          best_at = i;
        }
      }
      if (best_id < 0) return ids;
      ids[best_at] = best_id;
      ids.erase(ids.begin() + std::ptrdiff_t(best_at) + 1);
    }
  }
};

TEST(Stories260KTokenizer, LoadsTheLlama2cFile) {
  MOLA_NEED_SHARED_FILE(tokenizerFile());
  auto tok = Tokenizer::load(tokenizerFile());
  EXPECT_EQ(tok->kind(), "llama2c");
  EXPECT_EQ(tok->vocabSize(), 512);
  EXPECT_EQ(tok->bosId(), 1);
  EXPECT_EQ(tok->eosId(), 2);
  const PieceTable table(tokenizerFile());
  ASSERT_EQ(table.pieces.size(), 512u);
  const auto& l2c = dynamic_cast<const Llama2cTokenizer&>(*tok);
  for (int id : {0, 1, 3, 258, 259, 410, 511}) EXPECT_EQ(l2c.piece(id), table.pieces[size_t(id)]);
}

TEST(Stories260KTokenizer, EncodesLikeRunC) {
  MOLA_NEED_SHARED_FILE(tokenizerFile());
  auto tok = Tokenizer::load(tokenizerFile());
  const PieceTable table(tokenizerFile());
  // Ids from a line-by-line Python transcription of run.c's encode() on this file.
  const std::vector<int> once = tok->encode("Once upon a time", true, false);
  EXPECT_EQ(once, (std::vector<int>{1, 403, 407, 261, 378}));
  EXPECT_EQ(table.pieces[403], " Once");
  EXPECT_EQ(table.pieces[378], " time");
  const std::vector<int> ids = tok->encode(kSentence, true, true);
  EXPECT_EQ(ids, (std::vector<int>{1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421,
                                   395, 317, 426, 2}));
  // The pieces between BOS and EOS spell the dummy prefix and the text.
  std::string spelled;
  for (size_t k = 1; k + 1 < ids.size(); ++k) spelled += table.pieces[size_t(ids[k])];
  EXPECT_EQ(spelled, std::string(" ") + kSentence);
  // And the O(n^2) reference agrees on more text, bytes outside the vocabulary included.
  for (const std::string& text :
       {std::string(kSentence), std::string("Tom and Sue played in the park. \"Look!\" she said."),
        std::string("caf\xC3\xA9 \xF0\x9F\x98\x80 \xE4\xBD\xA0\xE5\xA5\xBD 12345")}) {
    std::vector<int> want = table.runCEncode(text);
    want.insert(want.begin(), 1);
    EXPECT_EQ(tok->encode(text, true, false), want) << text;
  }
}

TEST(Stories260KTokenizer, DecodesBackExactly) {
  MOLA_NEED_SHARED_FILE(tokenizerFile());
  auto tok = Tokenizer::load(tokenizerFile());
  for (const std::string& text :
       {std::string(kSentence), std::string("  Two spaces, and\na newline."),
        std::string("caf\xC3\xA9 \xF0\x9F\x98\x80 ~[]")}) {
    const std::vector<int> ids = tok->encode(text, true, true);
    EXPECT_EQ(tok->decode(ids), text);
    std::string streamed;
    int prev = -1;
    for (int id : ids) {
      streamed += tok->decodeNext(prev, id);
      prev = id;
    }
    EXPECT_EQ(streamed, text);
  }
}

}  // namespace
}  // namespace mola
