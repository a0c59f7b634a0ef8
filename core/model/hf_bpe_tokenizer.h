// SPDX-License-Identifier: GPL-3.0-or-later
// HfBpeTokenizer: a Hugging Face tokenizer.json with a BPE model, byte-level or Metaspace style.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "model/tokenizer.h"
#include "model/tokenizer_support.h"

namespace mola {

// The pre-tokenizer regexes of byte-level BPE tokenizers, which splitPreTokens implements by hand:
//   Gpt2:   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   Llama3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//           ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//   Qwen2:  as Llama3 but \p{N} (one digit per piece) instead of \p{N}{1,3}
enum class PreTokenizerPattern { Gpt2, Llama3, Qwen2 };

// The pattern a Split pre-tokenizer's regex is, compared exactly; nothing when it is another one.
std::optional<PreTokenizerPattern> recognisePreTokenizerPattern(std::string_view regex);
// `text` cut into the consecutive pieces that the pattern's regex matches (they concatenate back
// to `text`). Letters (\p{L}), numbers (\p{N}) and whitespace (\s) are classified by hand-written
// Unicode tables, written to match Unicode for ASCII, Latin, Greek, Cyrillic, CJK, kana and hangul;
// marks and digits of other scripts are approximate. Malformed UTF-8 bytes count as punctuation.
std::vector<std::string_view> splitPreTokens(std::string_view text, PreTokenizerPattern pattern);
// GPT-2's byte-to-unicode table: byte b -> the UTF-8 of the printable character standing for it
// (b itself for '!'..'~', '¡'..'¬', '®'..'ÿ'; U+0100 + n for the n-th remaining byte, so ' ' ->
// 'Ġ').
const std::array<std::string, 256>& gpt2ByteToUnicode();

// model.type "BPE" with model.vocab {token: id}, model.merges ("a b" strings or [a, b] pairs, rank
// = position), byte_fallback, unk_token, ignore_merges; added_tokens matched in the text before
// anything else (longest first). Two styles:
// - byte-level (a ByteLevel pre-tokenizer, alone or after a Split): GPT-2, LLaMA-3, Qwen2. Text is
//   split by the recognised regex, each piece's bytes mapped by gpt2ByteToUnicode, then merged by
//   rank; decoding maps characters back to bytes.
// - Metaspace (LLaMA-1/2 conversions): the normalizer's Prepend/Replace or a Metaspace
//   pre-tokenizer turn spaces into "▁"; characters outside the vocabulary become "<0xHH>" pieces
//   with byte_fallback; decoding turns "▁" back into spaces and drops the first one.
// BOS and EOS come from tokenizer_config.json beside the file (bos_token / eos_token) when it
// exists, else from a TemplateProcessing post-processor (the special token before / after $A),
// else by name: <|begin_of_text|>, <s>, <bos>, <|startoftext|> and <|end_of_text|>, </s>, <eos>,
// <|endoftext|>, <|im_end|>. Without a BOS, encode(..., add_bos = true) adds none.
// Normalizers other than Prepend, Replace (plain string) and NFC (skipped: text is taken as NFC
// already), and pre-tokenizers other than ByteLevel, Metaspace and a recognised Split, are errors.
class HfBpeTokenizer : public Tokenizer {
 public:
  // The tokenizer in the text of a tokenizer.json; errors (std::runtime_error) start with `path`
  // and name the field at fault. `config_json` is the content of tokenizer_config.json, if any.
  static std::unique_ptr<HfBpeTokenizer> parse(std::string_view json,
                                               const std::filesystem::path& path,
                                               std::string_view config_json = {});

  std::vector<int> encode(std::string_view text, bool add_bos, bool add_eos) const override;
  // Special added tokens give nothing, other added tokens their content. Byte-level tokens give
  // their bytes, which may be part of a UTF-8 character that the next token completes. Ids that no
  // token has (gaps in the vocabulary) give nothing; ids outside it throw std::out_of_range.
  std::string decodeNext(int prev, int id) const override;

  int vocabSize() const override { return static_cast<int>(m_tokens.size()); }
  int bosId() const override { return m_bos_id; }
  int eosId() const override { return m_eos_id; }
  std::string kind() const override { return "hf-bpe"; }

  bool byteLevel() const { return m_byte_level; }
  // The vocabulary text of `id` ("Ġthe" byte-level, "▁the" Metaspace), "" for a gap.
  const std::string& tokenText(int id) const;
  // The id of a vocabulary or added token's text, or -1.
  int tokenId(std::string_view text) const { return pieceId(m_ids, text); }

 private:
  struct AddedToken {
    std::string content;
    int id = -1;
    bool special = false;
  };
  // A normalizer step: prepend `to` to non-empty text when `from` is empty, else replace every
  // `from` by `to`.
  struct NormalizerStep {
    std::string from;
    std::string to;
  };
  enum class Prepend { Never, First, Always };

  HfBpeTokenizer() = default;
  // parse's sections of tokenizer.json (hf_bpe_tokenizer_json.cpp); errors name `path`.
  void readVocabulary(const nlohmann::json& root, const nlohmann::json& model,
                      const std::filesystem::path& path);
  void readMerges(const nlohmann::json& model, const std::filesystem::path& path);
  void readModelOptions(const nlohmann::json& model, const std::filesystem::path& path);
  bool readNormalizer(const nlohmann::json& root, const std::filesystem::path& path);
  void readPreTokenizer(const nlohmann::json& root, const std::filesystem::path& path);
  void readSpecialTokens(const nlohmann::json& root, std::string_view config_json,
                         const std::filesystem::path& path);
  void encodeSegment(std::string_view text, bool at_text_start, std::vector<int>& ids) const;
  void encodeWord(std::string_view word, std::vector<int>& ids) const;

  std::vector<std::string> m_tokens;  // by id; "" for gaps
  std::vector<char> m_special;        // by id: special added tokens decode to nothing
  std::vector<char> m_added;          // by id: added tokens decode to their content verbatim
  PieceIds m_ids;
  std::vector<AddedToken> m_added_tokens;                   // longest content first
  std::array<std::vector<int>, 256> m_added_by_first_byte;  // indices into m_added_tokens
  // (left id << 32 | right id) -> {rank, merged id}
  std::unordered_map<uint64_t, std::pair<int, int>> m_merges;

  std::vector<NormalizerStep> m_normalizer;
  bool m_byte_level = false;
  bool m_byte_level_prefix_space = false;
  std::optional<PreTokenizerPattern> m_split;
  bool m_metaspace = false;
  std::string m_metaspace_replacement = "\xE2\x96\x81";
  Prepend m_metaspace_prepend = Prepend::Always;
  bool m_metaspace_split = true;
  bool m_strip_first_space = false;  // Metaspace style: decoding drops the first "▁"

  bool m_byte_fallback = false;
  bool m_ignore_merges = false;
  bool m_fuse_unk = false;
  int m_unk_id = -1;
  std::array<int, 256> m_byte_ids{};  // "<0xHH>" tokens for byte_fallback, -1 when missing
  int m_bos_id = -1;
  int m_eos_id = -1;
};

}  // namespace mola
