// SPDX-License-Identifier: GPL-3.0-or-later
// SentencePieceTokenizer: a hand-written protobuf reader for ModelProto, BPE and unigram encoding.
#include "model/sentencepiece_tokenizer.h"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <limits>
#include <stdexcept>

namespace mola {

namespace {

constexpr std::string_view kSpaceSymbol = "\xE2\x96\x81";   // U+2581 "▁"
constexpr std::string_view kUnkSurface = " \xE2\x81\x87 ";  // " ⁇ "
// SentencePiece scores an unknown character as the lowest piece score minus this penalty.
constexpr double kUnkPenalty = 10.0;

enum WireType { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

// Reads one protobuf message: keys, then values by wire type. Every error names the file and the
// absolute byte offset, so a truncated or foreign file says where it went wrong.
class ProtoReader {
 public:
  ProtoReader(std::string_view message, const char* file_start, const std::filesystem::path& path,
              std::string where)
      : m_data(message), m_file_start(file_start), m_path(path), m_where(std::move(where)) {}

  bool atEnd() const { return m_pos >= m_data.size(); }
  int field() const { return m_field; }

  void readKey() {
    const size_t at = m_pos;
    const uint64_t key = varint();
    m_field =
        static_cast<int>(std::min<uint64_t>(key >> 3, uint64_t(std::numeric_limits<int>::max())));
    m_wire = static_cast<int>(key & 7);
    if (m_field == 0) fail(at, "field number 0");
    if (m_wire != kVarint && m_wire != kFixed64 && m_wire != kLengthDelimited && m_wire != kFixed32)
      fail(at, "field " + std::to_string(m_field) + " has unsupported wire type " +
                   std::to_string(m_wire));
  }

  void expect(int wire) const {
    if (m_wire != wire)
      fail(m_pos, "field " + std::to_string(m_field) + " has wire type " + std::to_string(m_wire) +
                      ", expected " + std::to_string(wire));
  }

  uint64_t varint() {
    const size_t at = m_pos;
    uint64_t value = 0;
    for (int shift = 0; shift < 70; shift += 7) {
      if (m_pos >= m_data.size()) fail(at, "truncated varint");
      const auto byte = static_cast<unsigned char>(m_data[m_pos++]);
      value |= uint64_t(byte & 0x7F) << std::min(shift, 63);
      if (!(byte & 0x80)) return value;
    }
    fail(at, "varint longer than 10 bytes");
  }

  // An int32 field: negative values are sent as 10-byte varints of the sign-extended value.
  int int32() {
    expect(kVarint);
    return static_cast<int>(static_cast<int32_t>(static_cast<uint32_t>(varint())));
  }
  bool boolean() {
    expect(kVarint);
    return varint() != 0;
  }
  float float32() {
    expect(kFixed32);
    const std::string_view b = take(4);
    uint32_t bits = 0;
    for (int k = 3; k >= 0; --k) bits = (bits << 8) | static_cast<unsigned char>(b[size_t(k)]);
    return std::bit_cast<float>(bits);
  }
  std::string_view bytes() {
    expect(kLengthDelimited);
    const size_t at = m_pos;
    const uint64_t length = varint();
    if (length > m_data.size() - m_pos)
      fail(at, "field " + std::to_string(m_field) + " claims " + std::to_string(length) +
                   " bytes but only " + std::to_string(m_data.size() - m_pos) +
                   " remain (truncated)");
    return take(size_t(length));
  }

  void skip() {
    switch (m_wire) {
      case kVarint:
        varint();
        break;
      case kFixed64:
        take(8);
        break;
      case kFixed32:
        take(4);
        break;
      default:
        bytes();
    }
  }

  // A reader for a nested message (a value just read by bytes()).
  ProtoReader nested(std::string_view message, std::string where) const {
    return ProtoReader(message, m_file_start, m_path, std::move(where));
  }

  [[noreturn]] void fail(size_t at, const std::string& what) const {
    throw std::runtime_error(
        m_path.string() + ": not a valid SentencePiece model (protobuf): " + what + " at byte " +
        std::to_string(size_t(m_data.data() - m_file_start) + at) + " (in " + m_where + ")");
  }

 private:
  std::string_view take(size_t n) {
    if (n > m_data.size() - m_pos)
      fail(m_pos, "a " + std::to_string(n) + "-byte value runs past the end (truncated)");
    const std::string_view out = m_data.substr(m_pos, n);
    m_pos += n;
    return out;
  }

  std::string_view m_data;
  const char* m_file_start;
  const std::filesystem::path& m_path;
  std::string m_where;
  size_t m_pos = 0;
  int m_field = 0;
  int m_wire = 0;
};

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& what) {
  throw std::runtime_error(path.string() + ": SentencePiece model " + what);
}

void checkId(const std::filesystem::path& path, const char* name, int id, size_t pieces) {
  if (id >= 0 && size_t(id) >= pieces)
    fail(path, std::string("has ") + name + " " + std::to_string(id) + ", but only " +
                   std::to_string(pieces) + " pieces");
}

// ModelProto.pieces[i]: its text (1), score (2) and type (3).
void readPiece(ProtoReader r, const std::filesystem::path& path, const std::string& where,
               SentencePieceTokenizer::Spec& spec) {
  std::string text;
  float score = 0.0f;
  auto type = SentencePieceTokenizer::PieceType::Normal;
  while (!r.atEnd()) {
    r.readKey();
    if (r.field() == 1) {
      text = std::string(r.bytes());
    } else if (r.field() == 2) {
      score = r.float32();
    } else if (r.field() == 3) {
      const int t = r.int32();
      if (t < 1 || t > 6) fail(path, where + " has type " + std::to_string(t) + " (expected 1..6)");
      type = static_cast<SentencePieceTokenizer::PieceType>(t);
    } else {
      r.skip();
    }
  }
  spec.pieces.push_back(std::move(text));
  spec.scores.push_back(score);
  spec.types.push_back(type);
}

// ModelProto.trainer_spec: byte_fallback and the special ids into `spec`; returns model_type
// (checked by the caller, which names WORD and CHAR).
int readTrainerSpec(ProtoReader r, SentencePieceTokenizer::Spec& spec) {
  int model_type = 1;
  while (!r.atEnd()) {
    r.readKey();
    switch (r.field()) {
      case 3:
        model_type = r.int32();
        break;
      case 35:
        spec.byte_fallback = r.boolean();
        break;
      case 40:
        spec.unk_id = r.int32();
        break;
      case 41:
        spec.bos_id = r.int32();
        break;
      case 42:
        spec.eos_id = r.int32();
        break;
      case 43:
        spec.pad_id = r.int32();
        break;
      default:
        r.skip();
    }
  }
  return model_type;
}

// ModelProto.normalizer_spec: add_dummy_prefix (3) and remove_extra_whitespaces (4).
void readNormalizerSpec(ProtoReader r, SentencePieceTokenizer::Spec& spec) {
  while (!r.atEnd()) {
    r.readKey();
    if (r.field() == 3) {
      spec.add_dummy_prefix = r.boolean();
    } else if (r.field() == 4) {
      spec.remove_extra_whitespaces = r.boolean();
    } else {
      r.skip();
    }
  }
}

}  // namespace

std::unique_ptr<SentencePieceTokenizer> SentencePieceTokenizer::parse(
    std::string_view data, const std::filesystem::path& path) {
  // ModelProto's defaults: UNIGRAM, and remove_extra_whitespaces on.
  Spec spec;
  spec.remove_extra_whitespaces = true;
  int model_type = 1;
  bool has_trainer_spec = false;
  ProtoReader model(data, data.data(), path, "ModelProto");
  while (!model.atEnd()) {
    model.readKey();
    if (model.field() == 1) {
      const std::string where = "piece " + std::to_string(spec.pieces.size());
      readPiece(model.nested(model.bytes(), where), path, where, spec);
    } else if (model.field() == 2) {
      has_trainer_spec = true;
      model_type = readTrainerSpec(model.nested(model.bytes(), "trainer_spec"), spec);
    } else if (model.field() == 3) {
      readNormalizerSpec(model.nested(model.bytes(), "normalizer_spec"), spec);
    } else {
      model.skip();
    }
  }

  if (spec.pieces.empty()) fail(path, "has no pieces");
  // Protobuf has no end marker: a file cut between two pieces parses, but then lacks the
  // trainer_spec that SentencePiece always writes after the pieces.
  if (!has_trainer_spec)
    fail(path, "has no trainer_spec (field 2): the file is truncated or not a tokenizer.model");
  if (model_type != 1 && model_type != 2)
    fail(path, "has model_type " + std::to_string(model_type) +
                   (model_type == 3   ? " (WORD)"
                    : model_type == 4 ? " (CHAR)"
                                      : "") +
                   "; only UNIGRAM (1) and BPE (2) are supported");
  spec.model_type = static_cast<ModelType>(model_type);
  return fromSpec(spec, path);
}

std::unique_ptr<SentencePieceTokenizer> SentencePieceTokenizer::fromSpec(
    const Spec& spec, const std::filesystem::path& path) {
  if (spec.pieces.empty()) fail(path, "has no pieces");
  if (spec.scores.size() != spec.pieces.size() || spec.types.size() != spec.pieces.size())
    fail(path, "has " + std::to_string(spec.pieces.size()) + " pieces but " +
                   std::to_string(spec.scores.size()) + " scores and " +
                   std::to_string(spec.types.size()) + " piece types");
  std::unique_ptr<SentencePieceTokenizer> tok(new SentencePieceTokenizer());
  for (size_t i = 0; i < spec.pieces.size(); ++i)
    tok->m_pieces.push_back({spec.pieces[i], spec.scores[i], spec.types[i]});
  tok->m_model_type = spec.model_type;
  tok->m_unk_id = spec.unk_id;
  tok->m_bos_id = spec.bos_id;
  tok->m_eos_id = spec.eos_id;
  tok->m_pad_id = spec.pad_id;
  tok->m_byte_fallback = spec.byte_fallback;
  tok->m_add_dummy_prefix = spec.add_dummy_prefix;
  tok->m_remove_extra_whitespaces = spec.remove_extra_whitespaces;
  tok->finish(path);
  return tok;
}

void SentencePieceTokenizer::finish(const std::filesystem::path& path) {
  const size_t n = m_pieces.size();
  checkId(path, "unk_id", m_unk_id, n);
  checkId(path, "bos_id", m_bos_id, n);
  checkId(path, "eos_id", m_eos_id, n);
  checkId(path, "pad_id", m_pad_id, n);
  if (m_unk_id < 0) fail(path, "has no unk_id; SentencePiece requires an unknown piece");
  m_bos_id = std::max(m_bos_id, -1);
  m_eos_id = std::max(m_eos_id, -1);
  m_pad_id = std::max(m_pad_id, -1);

  m_byte_ids.fill(-1);
  bool have_normal = false;
  for (size_t id = 0; id < n; ++id) {
    const Piece& p = m_pieces[id];
    if (p.type == PieceType::Normal || p.type == PieceType::UserDefined) {
      if (p.text.empty()) continue;
      m_ids.emplace(p.text, static_cast<int>(id));
      m_max_piece_bytes = std::max(m_max_piece_bytes, p.text.size());
      if (p.type == PieceType::UserDefined) m_user_defined.push_back(p.text);
      if (p.type == PieceType::Normal) {
        m_min_score = have_normal ? std::min(m_min_score, p.score) : p.score;
        have_normal = true;
      }
    } else if (p.type == PieceType::Byte) {
      const int byte = bytePieceValue(p.text);
      if (byte < 0)
        fail(path, "piece " + std::to_string(id) + " '" + p.text +
                       "' has type BYTE but is not of the form <0xHH>");
      m_byte_ids[size_t(byte)] = static_cast<int>(id);
    }
  }
  m_all_bytes = std::all_of(m_byte_ids.begin(), m_byte_ids.end(), [](int id) { return id >= 0; });
  std::stable_sort(m_user_defined.begin(), m_user_defined.end(),
                   [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
}

const std::string& SentencePieceTokenizer::piece(int id) const {
  if (id < 0 || id >= vocabSize())
    throw std::out_of_range("token id " + std::to_string(id) + " is outside the tokenizer's " +
                            std::to_string(vocabSize()) + " ids");
  return m_pieces[size_t(id)].text;
}

float SentencePieceTokenizer::score(int id) const {
  piece(id);  // range check
  return m_pieces[size_t(id)].score;
}

SentencePieceTokenizer::PieceType SentencePieceTokenizer::pieceType(int id) const {
  piece(id);  // range check
  return m_pieces[size_t(id)].type;
}

std::string SentencePieceTokenizer::normalize(std::string_view text) const {
  std::string collapsed;
  if (m_remove_extra_whitespaces) {
    // Leading and trailing spaces go; an inner run of spaces becomes one.
    bool pending_space = false;
    for (char c : text) {
      if (c == ' ') {
        pending_space = !collapsed.empty();
        continue;
      }
      if (pending_space) collapsed += ' ';
      pending_space = false;
      collapsed += c;
    }
    text = collapsed;
  }
  std::string out;
  if (text.empty()) return out;
  if (m_add_dummy_prefix) out += kSpaceSymbol;
  for (char c : text) {
    if (c == ' ') {
      out += kSpaceSymbol;
    } else {
      out += c;
    }
  }
  return out;
}

void SentencePieceTokenizer::appendUnknown(std::string_view text, std::vector<int>& ids) const {
  if (m_byte_fallback && m_all_bytes) {
    for (char c : text) ids.push_back(m_byte_ids[static_cast<unsigned char>(c)]);
  } else {
    ids.push_back(m_unk_id);
  }
}

void SentencePieceTokenizer::encodeBpe(std::string_view text, std::vector<int>& ids) const {
  std::vector<MergeSymbol> symbols;
  for (size_t i = 0; i < text.size();) {
    const size_t len = utf8CharLength(text, i);
    const std::string_view ch = text.substr(i, len);
    symbols.push_back({pieceId(m_ids, ch), std::string(ch)});
    i += len;
  }
  std::string joined;
  symbols = mergeBestPairs(std::move(symbols), [&](const MergeSymbol& a, const MergeSymbol& b) {
    joined.assign(a.text).append(b.text);
    const int id = pieceId(m_ids, joined);
    return id < 0 ? std::nullopt
                  : std::optional<std::pair<double, int>>({m_pieces[size_t(id)].score, id});
  });
  for (const MergeSymbol& s : symbols) {
    if (s.id >= 0) {
      ids.push_back(s.id);
    } else {
      appendUnknown(s.text, ids);
    }
  }
}

void SentencePieceTokenizer::encodeUnigram(std::string_view text, std::vector<int>& ids) const {
  // best[e]: the highest total score of a segmentation of text[0, e); from[e] and id_at[e] say
  // which piece ends there (id -1: an unknown character) and where it starts.
  const size_t n = text.size();
  const double unreached = -std::numeric_limits<double>::infinity();
  std::vector<double> best(n + 1, unreached);
  std::vector<size_t> from(n + 1, 0);
  std::vector<int> id_at(n + 1, -1);
  best[0] = 0.0;
  const double unk_score = double(m_min_score) - kUnkPenalty;
  for (size_t i = 0; i < n; i += utf8CharLength(text, i)) {
    if (best[i] == unreached) continue;
    const size_t first_char = utf8CharLength(text, i);
    bool has_single_char_piece = false;
    for (size_t end = i + first_char; end <= n && end - i <= m_max_piece_bytes;
         end += end < n ? utf8CharLength(text, end) : 1) {
      const int id = pieceId(m_ids, text.substr(i, end - i));
      if (id >= 0) {
        has_single_char_piece |= end == i + first_char;
        const double s = best[i] + m_pieces[size_t(id)].score;
        if (s > best[end]) {
          best[end] = s;
          from[end] = i;
          id_at[end] = id;
        }
      }
      if (end == n) break;
    }
    if (!has_single_char_piece && best[i] + unk_score > best[i + first_char]) {
      best[i + first_char] = best[i] + unk_score;
      from[i + first_char] = i;
      id_at[i + first_char] = -1;
    }
  }
  std::vector<std::pair<size_t, size_t>> spans;  // [start, end) of each piece, last first
  for (size_t e = n; e > 0; e = from[e]) spans.push_back({from[e], e});
  std::reverse(spans.begin(), spans.end());
  // A run of unknown characters becomes one <unk> (or the bytes of the whole run).
  size_t unknown_start = std::string_view::npos;
  for (size_t k = 0; k < spans.size(); ++k) {
    const auto [start, end] = spans[k];
    const int id = id_at[end];
    if (id < 0) {
      if (unknown_start == std::string_view::npos) unknown_start = start;
      const bool run_ends = k + 1 == spans.size() || id_at[spans[k + 1].second] >= 0;
      if (run_ends) {
        appendUnknown(text.substr(unknown_start, end - unknown_start), ids);
        unknown_start = std::string_view::npos;
      }
    } else {
      ids.push_back(id);
    }
  }
}

std::vector<int> SentencePieceTokenizer::encode(std::string_view text, bool add_bos,
                                                bool add_eos) const {
  std::vector<int> ids;
  if (add_bos && m_bos_id >= 0) ids.push_back(m_bos_id);
  const std::string normalized = normalize(text);
  const std::string_view s = normalized;
  auto segment = [&](std::string_view run) {
    if (run.empty()) return;
    if (m_model_type == ModelType::Bpe) {
      encodeBpe(run, ids);
    } else {
      encodeUnigram(run, ids);
    }
  };
  // User-defined pieces are cut out first and never split (longest match at each position).
  size_t run_start = 0;
  for (size_t i = 0; i < s.size() && !m_user_defined.empty();) {
    const auto match =
        std::find_if(m_user_defined.begin(), m_user_defined.end(),
                     [&](const std::string& u) { return s.substr(i).starts_with(u); });
    if (match == m_user_defined.end()) {
      i += utf8CharLength(s, i);
      continue;
    }
    segment(s.substr(run_start, i - run_start));
    ids.push_back(pieceId(m_ids, *match));
    i += match->size();
    run_start = i;
  }
  segment(s.substr(run_start));
  if (add_eos && m_eos_id >= 0) ids.push_back(m_eos_id);
  return ids;
}

std::string SentencePieceTokenizer::decodeNext(int prev, int id) const {
  const std::string& text = piece(id);
  switch (m_pieces[size_t(id)].type) {
    case PieceType::Control:
      return {};
    case PieceType::Unknown:
      return std::string(kUnkSurface);
    case PieceType::Byte:
      return std::string(1, static_cast<char>(bytePieceValue(text)));
    default:
      break;
  }
  const bool at_start =
      prev < 0 || (prev < vocabSize() && m_pieces[size_t(prev)].type == PieceType::Control);
  std::string_view rest = text;
  if (at_start && (m_add_dummy_prefix || m_remove_extra_whitespaces) &&
      rest.starts_with(kSpaceSymbol))
    rest.remove_prefix(kSpaceSymbol.size());
  std::string out;
  for (size_t at; (at = rest.find(kSpaceSymbol)) != std::string_view::npos;) {
    out.append(rest.substr(0, at)).push_back(' ');
    rest.remove_prefix(at + kSpaceSymbol.size());
  }
  return out.append(rest);
}

}  // namespace mola
