// SPDX-License-Identifier: GPL-3.0-or-later
// Tokenizer: the interface every tokenizer format implements, and loading by file content
// (torch-free).
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace mola {

// Records to tokenize per thread at the least (parallelMap's min_per_thread): encoding a record
// takes about a millisecond, starting a thread a few microseconds.
inline constexpr size_t kRecordsPerEncodeThread = 2;

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Token ids of `text`, with BOS first when add_bos and EOS last when add_eos.
  virtual std::vector<int> encode(std::string_view text, bool add_bos, bool add_eos) const = 0;
  // The text of `ids`; BOS, EOS and other control tokens produce no text. The default chains
  // decodeNext, starting as after BOS (prev = -1).
  virtual std::string decode(const std::vector<int>& ids) const;
  // The text that token `id` adds when it follows token `prev` (for streaming generation);
  // concatenating decodeNext over a sequence equals decode() of it.
  virtual std::string decodeNext(int prev, int id) const = 0;

  virtual int vocabSize() const = 0;
  virtual int bosId() const = 0;  // -1 when the format has none
  virtual int eosId() const = 0;
  // "llama2c", "sentencepiece", "hf-bpe", "bytes"
  virtual std::string kind() const = 0;

  // Reads a tokenizer file, recognised by its content: a llama2.c tokenizer.bin, a SentencePiece
  // tokenizer.model (protobuf), or a Hugging Face tokenizer.json. Errors (std::runtime_error) name
  // the file and what is wrong with it.
  static std::unique_ptr<Tokenizer> load(const std::filesystem::path& path);
  // The tokenizer of a model directory: tokenizer.json, else tokenizer.model; errors when neither.
  static std::unique_ptr<Tokenizer> loadFromModelDir(const std::filesystem::path& dir);
  // The built-in byte-level tokenizer of the built-in tiny model: ids 0 <unk>, 1 <s>, 2 </s>, and
  // 3 + b for byte b (as llama2.c's byte-fallback pieces), 259 ids in all.
  static std::unique_ptr<Tokenizer> bytes();
};

}  // namespace mola
