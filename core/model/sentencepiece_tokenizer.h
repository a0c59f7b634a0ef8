// SPDX-License-Identifier: GPL-3.0-or-later
// SentencePieceTokenizer: a tokenizer.model (protobuf ModelProto, read by hand) with BPE or
// unigram.
#pragma once

#include <array>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "model/tokenizer.h"
#include "model/tokenizer_support.h"

namespace mola {

// What is read of the ModelProto: the pieces (text, score, type), trainer_spec's model_type,
// byte_fallback and unk/bos/eos/pad ids, and normalizer_spec's add_dummy_prefix and
// remove_extra_whitespaces. Unknown fields of every wire type are skipped. Not applied: the
// normalizer's precompiled charsmap (NFKC and the like; LLaMA's models use "identity").
class SentencePieceTokenizer : public Tokenizer {
 public:
  enum class ModelType { Unigram = 1, Bpe = 2 };
  enum class PieceType {
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6
  };

  // The tokenizer in the bytes of a tokenizer.model; errors (std::runtime_error) start with `path`
  // and say what is wrong and at which byte (truncation, bad wire type, no pieces, WORD/CHAR
  // model).
  static std::unique_ptr<SentencePieceTokenizer> parse(std::string_view data,
                                                       const std::filesystem::path& path);

  // A model given as its parts, as a GGUF file's tokenizer.ggml.* keys hold them (ids -1: none).
  struct Spec {
    std::vector<std::string> pieces;
    std::vector<float> scores;
    std::vector<PieceType> types;
    ModelType model_type = ModelType::Bpe;
    int unk_id = 0, bos_id = 1, eos_id = 2, pad_id = -1;
    bool byte_fallback = false;
    bool add_dummy_prefix = true;
    bool remove_extra_whitespaces = false;
  };
  // Errors (std::runtime_error) start with `path`: no pieces, lists of other lengths, bad ids.
  static std::unique_ptr<SentencePieceTokenizer> fromSpec(const Spec& spec,
                                                          const std::filesystem::path& path);

  // Normalises (remove_extra_whitespaces: trim and collapse spaces; spaces become "▁"; a "▁" in
  // front when add_dummy_prefix), cuts out user-defined pieces (longest first), then segments the
  // rest: BPE merges adjacent pairs by the merged piece's score as llama2.c does, unigram takes the
  // Viterbi path of highest total score. Characters without a piece become their byte pieces with
  // byte_fallback, else <unk> (unigram fuses a run of them into one <unk>, as SentencePiece does).
  std::vector<int> encode(std::string_view text, bool add_bos, bool add_eos) const override;
  // "▁" becomes a space; the first piece after the start (prev < 0) or a control token drops its
  // leading "▁" when add_dummy_prefix or remove_extra_whitespaces; byte pieces give raw bytes,
  // control pieces nothing, <unk> SentencePiece's default unk_surface " ⁇ ". Bad ids throw
  // std::out_of_range.
  std::string decodeNext(int prev, int id) const override;

  int vocabSize() const override { return static_cast<int>(m_pieces.size()); }
  int bosId() const override { return m_bos_id; }
  int eosId() const override { return m_eos_id; }
  std::string kind() const override { return "sentencepiece"; }

  ModelType modelType() const { return m_model_type; }
  int unkId() const { return m_unk_id; }
  int padId() const { return m_pad_id; }
  bool byteFallback() const { return m_byte_fallback; }
  bool addDummyPrefix() const { return m_add_dummy_prefix; }
  bool removeExtraWhitespaces() const { return m_remove_extra_whitespaces; }
  const std::string& piece(int id) const;
  float score(int id) const;
  PieceType pieceType(int id) const;

 private:
  struct Piece {
    std::string text;
    float score = 0.0f;
    PieceType type = PieceType::Normal;
  };

  SentencePieceTokenizer() = default;
  // Checks the ids and builds the lookup tables once m_pieces and the settings are in place.
  void finish(const std::filesystem::path& path);
  std::string normalize(std::string_view text) const;
  void encodeBpe(std::string_view text, std::vector<int>& ids) const;
  void encodeUnigram(std::string_view text, std::vector<int>& ids) const;
  // Byte pieces of `text` with byte_fallback (when all 256 exist), else one <unk>.
  void appendUnknown(std::string_view text, std::vector<int>& ids) const;

  std::vector<Piece> m_pieces;
  PieceIds m_ids;  // normal and user-defined pieces: what text segments into
  std::vector<std::string> m_user_defined;  // longest first, matched before segmentation
  std::array<int, 256> m_byte_ids{};        // -1 where the model has no byte piece
  bool m_all_bytes = false;
  size_t m_max_piece_bytes = 1;
  float m_min_score = 0.0f;
  ModelType m_model_type = ModelType::Unigram;
  int m_unk_id = 0;
  int m_bos_id = 1;
  int m_eos_id = 2;
  int m_pad_id = -1;
  bool m_byte_fallback = false;
  bool m_add_dummy_prefix = true;
  bool m_remove_extra_whitespaces = true;
};

}  // namespace mola
