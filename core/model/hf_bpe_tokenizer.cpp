// SPDX-License-Identifier: GPL-3.0-or-later
// HfBpeTokenizer: hand-written pre-tokenizer splits, and BPE by merge rank (tokenizer.json is read
// in hf_bpe_tokenizer_json.cpp).
#include "model/hf_bpe_tokenizer.h"

#include <algorithm>
#include <stdexcept>
#include <tuple>

namespace mola {

namespace {

// ---- Unicode classes for the pre-tokenizer regexes: \p{L}, \p{N}, \s, and everything else.

enum class CharClass : unsigned char { Letter, Number, Space, Other };

struct ClassRange {
  char32_t first;
  char32_t last;
  CharClass cls;
};

constexpr CharClass N = CharClass::Number;
constexpr CharClass S = CharClass::Space;
constexpr CharClass O = CharClass::Other;

// Code points from U+0080 up that are not letters, sorted; any code point not listed is a letter.
// Whitespace is Unicode's White_Space (what \s matches); numbers are Nd, Nl and No; the rest are
// punctuation, symbols, marks, format and private-use characters.
constexpr ClassRange kNonLetters[] = {
    {0x80, 0x84, O},
    {0x85, 0x85, S},
    {0x86, 0x9F, O},
    {0xA0, 0xA0, S},
    {0xA1, 0xA9, O},
    {0xAB, 0xB1, O},
    {0xB2, 0xB3, N},
    {0xB4, 0xB4, O},
    {0xB6, 0xB8, O},
    {0xB9, 0xB9, N},
    {0xBB, 0xBB, O},
    {0xBC, 0xBE, N},
    {0xBF, 0xBF, O},
    {0xD7, 0xD7, O},
    {0xF7, 0xF7, O},
    {0x2C2, 0x2C5, O},
    {0x2D2, 0x2DF, O},
    {0x2E5, 0x2EB, O},
    {0x2ED, 0x2ED, O},
    {0x2EF, 0x36F, O},
    {0x375, 0x375, O},
    {0x37E, 0x37E, O},
    {0x384, 0x385, O},
    {0x387, 0x387, O},
    {0x3F6, 0x3F6, O},
    {0x482, 0x489, O},
    {0x55A, 0x55F, O},
    {0x589, 0x58A, O},
    {0x58D, 0x58F, O},
    {0x591, 0x5C7, O},
    {0x5F3, 0x5F4, O},
    {0x600, 0x61F, O},
    {0x64B, 0x65F, O},
    {0x660, 0x669, N},
    {0x66A, 0x66D, O},
    {0x670, 0x670, O},
    {0x6D4, 0x6D4, O},
    {0x6D6, 0x6E4, O},
    {0x6E7, 0x6ED, O},
    {0x6F0, 0x6F9, N},
    {0x6FD, 0x6FE, O},
    {0x700, 0x70F, O},
    {0x711, 0x711, O},
    {0x730, 0x74A, O},
    {0x7A6, 0x7B0, O},
    {0x7C0, 0x7C9, N},
    {0x7EB, 0x7F3, O},
    {0x7F6, 0x7F9, O},
    // U+0900..U+0DFF (Indic scripts) are classified by indicClass().
    {0xE31, 0xE31, O},
    {0xE34, 0xE3A, O},
    {0xE3F, 0xE3F, O},
    {0xE47, 0xE4F, O},
    {0xE50, 0xE59, N},
    {0xE5A, 0xE5B, O},
    {0xEB1, 0xEB1, O},
    {0xEB4, 0xEBC, O},
    {0xEC8, 0xECE, O},
    {0xED0, 0xED9, N},
    {0xF01, 0xF1F, O},
    {0xF20, 0xF33, N},
    {0xF34, 0xF3F, O},
    {0xF71, 0xF87, O},
    {0xF8D, 0xFBC, O},
    {0xFBE, 0xFDA, O},
    {0x102B, 0x103E, O},
    {0x1040, 0x1049, N},
    {0x104A, 0x104F, O},
    {0x1360, 0x1368, O},
    {0x1369, 0x137C, N},
    {0x1680, 0x1680, S},
    {0x169B, 0x169C, O},
    {0x16EB, 0x16ED, O},
    {0x16EE, 0x16F0, N},
    {0x17B4, 0x17D6, O},
    {0x17D8, 0x17DB, O},
    {0x17DD, 0x17DD, O},
    {0x17E0, 0x17E9, N},
    {0x1800, 0x180F, O},
    {0x1810, 0x1819, N},
    {0x1AB0, 0x1AFF, O},
    {0x1DC0, 0x1DFF, O},
    {0x1FBD, 0x1FBD, O},
    {0x1FBF, 0x1FC1, O},
    {0x1FCD, 0x1FCF, O},
    {0x1FDD, 0x1FDF, O},
    {0x1FED, 0x1FEF, O},
    {0x1FFD, 0x1FFE, O},
    {0x2000, 0x200A, S},
    {0x200B, 0x2027, O},
    {0x2028, 0x2029, S},
    {0x202A, 0x202E, O},
    {0x202F, 0x202F, S},
    {0x2030, 0x205E, O},
    {0x205F, 0x205F, S},
    {0x2060, 0x206F, O},
    {0x2070, 0x2070, N},
    {0x2072, 0x2073, O},
    {0x2074, 0x2079, N},
    {0x207A, 0x207E, O},
    {0x2080, 0x2089, N},
    {0x208A, 0x208F, O},
    {0x209D, 0x2101, O},
    {0x2103, 0x2106, O},
    {0x2108, 0x2109, O},
    {0x2114, 0x2114, O},
    {0x2116, 0x2118, O},
    {0x211E, 0x2123, O},
    {0x2125, 0x2125, O},
    {0x2127, 0x2127, O},
    {0x2129, 0x2129, O},
    {0x212E, 0x212E, O},
    {0x213A, 0x213B, O},
    {0x2140, 0x2144, O},
    {0x214A, 0x214D, O},
    {0x214F, 0x214F, O},
    {0x2150, 0x2182, N},
    {0x2185, 0x2189, N},
    {0x218A, 0x245F, O},
    {0x2460, 0x249B, N},
    {0x249C, 0x24E9, O},
    {0x24EA, 0x24FF, N},
    {0x2500, 0x2775, O},
    {0x2776, 0x2793, N},
    {0x2794, 0x2BFF, O},
    {0x2CE5, 0x2CEA, O},
    {0x2CEF, 0x2CF1, O},
    {0x2CF9, 0x2CFC, O},
    {0x2CFD, 0x2CFD, N},
    {0x2CFE, 0x2CFF, O},
    {0x2D70, 0x2D70, O},
    {0x2D7F, 0x2D7F, O},
    {0x2DE0, 0x2E2E, O},
    {0x2E30, 0x2FFF, O},
    {0x3000, 0x3000, S},
    {0x3001, 0x3004, O},
    {0x3007, 0x3007, N},
    {0x3008, 0x3020, O},
    {0x3021, 0x3029, N},
    {0x302A, 0x3030, O},
    {0x3036, 0x3037, O},
    {0x3038, 0x303A, N},
    {0x303D, 0x303F, O},
    {0x3099, 0x309C, O},
    {0x30A0, 0x30A0, O},
    {0x30FB, 0x30FB, O},
    {0x3190, 0x3191, O},
    {0x3192, 0x3195, N},
    {0x3196, 0x319F, O},
    {0x31C0, 0x31EF, O},
    {0x3200, 0x321F, O},
    {0x3220, 0x3229, N},
    {0x322A, 0x3247, O},
    {0x3248, 0x324F, N},
    {0x3250, 0x3250, O},
    {0x3251, 0x325F, N},
    {0x3260, 0x327F, O},
    {0x3280, 0x3289, N},
    {0x328A, 0x32B0, O},
    {0x32B1, 0x32BF, N},
    {0x32C0, 0x33FF, O},
    {0x4DC0, 0x4DFF, O},
    {0xA490, 0xA4CF, O},
    {0xA620, 0xA629, N},
    {0xA66F, 0xA67E, O},
    {0xA6E6, 0xA6EF, N},
    {0xA6F0, 0xA6F7, O},
    {0xA700, 0xA716, O},
    {0xA720, 0xA721, O},
    {0xA789, 0xA78A, O},
    {0xA8D0, 0xA8D9, N},
    {0xA900, 0xA909, N},
    {0xA9D0, 0xA9D9, N},
    {0xAA50, 0xAA59, N},
    {0xABF0, 0xABF9, N},
    {0xD800, 0xF8FF, O},
    {0xFB1E, 0xFB1E, O},
    {0xFB29, 0xFB29, O},
    {0xFD3E, 0xFD3F, O},
    {0xFDFC, 0xFDFF, O},
    {0xFE00, 0xFE6F, O},
    {0xFEFF, 0xFEFF, O},
    {0xFF01, 0xFF0F, O},
    {0xFF10, 0xFF19, N},
    {0xFF1A, 0xFF20, O},
    {0xFF3B, 0xFF40, O},
    {0xFF5B, 0xFF65, O},
    {0xFFE0, 0xFFFF, O},
    {0x1D000, 0x1D24F, O},
    {0x1D360, 0x1D378, N},
    {0x1D7CE, 0x1D7FF, N},
    {0x1F000, 0x1F0FF, O},
    {0x1F100, 0x1F10C, N},
    {0x1F10D, 0x1FBEF, O},
    {0x1FBF0, 0x1FBF9, N},
    {0xE0000, 0xE0FFF, O},
    {0xF0000, 0x10FFFF, O},
};

// Devanagari to Malayalam share one layout per 128-code-point block: vowel signs and viramas
// (marks, not letters) at the same offsets, digits at 0x66..0x6F, dandas at 0x964..0x965.
CharClass indicClass(char32_t cp) {
  const char32_t off = cp & 0x7F;
  if (off >= 0x66 && off <= 0x6F) return N;
  if (off <= 0x03 || (off >= 0x3A && off <= 0x4F && off != 0x3D) || (off >= 0x51 && off <= 0x57) ||
      (off >= 0x62 && off <= 0x65))
    return O;
  return CharClass::Letter;
}

CharClass charClass(char32_t cp) {
  if (cp < 0x80) {
    if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z')) return CharClass::Letter;
    if (cp >= '0' && cp <= '9') return N;
    if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D)) return S;
    return O;
  }
  if (cp >= 0x900 && cp <= 0xDFF) return indicClass(cp);
  if (cp > 0x10FFFF) return O;
  const auto* end = std::end(kNonLetters);
  const auto* it = std::upper_bound(std::begin(kNonLetters), end, cp,
                                    [](char32_t c, const ClassRange& r) { return c < r.first; });
  if (it == std::begin(kNonLetters)) return CharClass::Letter;
  --it;
  return cp <= it->last ? it->cls : CharClass::Letter;
}

bool isNewline(char32_t cp) {
  return cp == '\r' || cp == '\n';
}

// The text as code points with their classes and byte offsets (offsets has one more entry).
struct DecodedText {
  std::vector<char32_t> cps;
  std::vector<CharClass> classes;
  std::vector<size_t> offsets;

  explicit DecodedText(std::string_view text) {
    for (size_t i = 0; i < text.size();) {
      const size_t len = utf8CharLength(text, i);
      const char32_t cp = utf8CodePoint(text, i, len);
      cps.push_back(cp);
      classes.push_back(charClass(cp));
      offsets.push_back(i);
      i += len;
    }
    offsets.push_back(text.size());
  }
  size_t size() const { return cps.size(); }
  // End of the run of class `cls` that starts at i.
  size_t runEnd(size_t i, CharClass cls) const {
    while (i < size() && classes[i] == cls) ++i;
    return i;
  }
  // Characters in the contraction ('s 't 're 've 'm 'll 'd) at i, or 0.
  size_t contraction(size_t i, bool any_case) const {
    if (cps[i] != '\'' || i + 1 >= size()) return 0;
    auto lower = [&](size_t k) {
      const char32_t c = cps[k];
      return any_case && c >= 'A' && c <= 'Z' ? c + 32 : c;
    };
    const char32_t a = lower(i + 1);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if (i + 2 < size()) {
      const char32_t b = lower(i + 2);
      if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    }
    return 0;
  }
  // \s+(?!\S) then \s+: the whitespace run at i, less its last character when a non-space
  // follows and the run is longer than one (that character then leads the next piece).
  size_t whitespaceEnd(size_t i) const {
    const size_t e = runEnd(i, S);
    return e == size() || e - i < 2 ? e : e - 1;
  }
};

// End (in characters) of the GPT-2 regex's match at i.
size_t gpt2MatchEnd(const DecodedText& t, size_t i) {
  if (const size_t k = t.contraction(i, false)) return i + k;
  // " ?X+": the optional space joins the run after it when such a run follows.
  const size_t j = t.cps[i] == ' ' && i + 1 < t.size() ? i + 1 : i;
  if (t.classes[j] != S) return t.runEnd(j, t.classes[j]);
  return t.whitespaceEnd(i);
}

// End of the LLaMA-3 (digits = 3) or Qwen2 (digits = 1) regex's match at i.
size_t llama3MatchEnd(const DecodedText& t, size_t i, size_t digits) {
  if (const size_t k = t.contraction(i, true)) return i + k;
  const CharClass c = t.classes[i];
  if (c == CharClass::Letter) return t.runEnd(i, c);
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (!isNewline(t.cps[i]) && c != N && i + 1 < t.size() && t.classes[i + 1] == CharClass::Letter)
    return t.runEnd(i + 1, CharClass::Letter);
  if (c == N) return std::min(t.runEnd(i, N), i + digits);
  // " ?[^\s\p{L}\p{N}]+[\r\n]*"
  const size_t j = t.cps[i] == ' ' && i + 1 < t.size() ? i + 1 : i;
  if (t.classes[j] == O) {
    size_t e = t.runEnd(j, O);
    while (e < t.size() && isNewline(t.cps[e])) ++e;
    return e;
  }
  // \s*[\r\n]+ : the whitespace run up to and including its last newline.
  const size_t e = t.runEnd(i, S);
  for (size_t k = e; k > i; --k)
    if (isNewline(t.cps[k - 1])) return k;
  return t.whitespaceEnd(i);
}

// The inverse of gpt2ByteToUnicode by code point: the byte, or -1.
int gpt2UnicodeToByte(char32_t cp) {
  static const std::vector<int> table = [] {
    std::vector<int> t(0x144, -1);
    const auto& forward = gpt2ByteToUnicode();
    for (int b = 0; b < 256; ++b) {
      const std::string& s = forward[size_t(b)];
      t[utf8CodePoint(s, 0, s.size())] = b;
    }
    return t;
  }();
  return cp < table.size() ? table[cp] : -1;
}

void replaceAll(std::string& s, std::string_view from, std::string_view to) {
  if (from.empty()) return;
  std::string out;
  size_t start = 0;
  for (size_t at; (at = s.find(from, start)) != std::string::npos; start = at + from.size())
    out.append(s, start, at - start).append(to);
  out.append(s, start);
  s = std::move(out);
}

}  // namespace

std::optional<PreTokenizerPattern> recognisePreTokenizerPattern(std::string_view regex) {
  constexpr std::string_view kGpt2 =
      R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
  constexpr std::string_view kLlama3 =
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|)"
      R"( ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  constexpr std::string_view kQwen2 =
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|)"
      R"( ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  if (regex == kGpt2) return PreTokenizerPattern::Gpt2;
  if (regex == kLlama3) return PreTokenizerPattern::Llama3;
  if (regex == kQwen2) return PreTokenizerPattern::Qwen2;
  return std::nullopt;
}

std::vector<std::string_view> splitPreTokens(std::string_view text, PreTokenizerPattern pattern) {
  const DecodedText t(text);
  std::vector<std::string_view> pieces;
  for (size_t i = 0; i < t.size();) {
    const size_t end = pattern == PreTokenizerPattern::Gpt2     ? gpt2MatchEnd(t, i)
                       : pattern == PreTokenizerPattern::Llama3 ? llama3MatchEnd(t, i, 3)
                                                                : llama3MatchEnd(t, i, 1);
    pieces.push_back(text.substr(t.offsets[i], t.offsets[end] - t.offsets[i]));
    i = end;
  }
  return pieces;
}

const std::array<std::string, 256>& gpt2ByteToUnicode() {
  static const std::array<std::string, 256> table = [] {
    std::array<std::string, 256> t;
    char32_t next = 0x100;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      appendUtf8(t[size_t(b)], printable ? char32_t(b) : next++);
    }
    return t;
  }();
  return table;
}

const std::string& HfBpeTokenizer::tokenText(int id) const {
  if (id < 0 || id >= vocabSize())
    throw std::out_of_range("token id " + std::to_string(id) + " is outside the tokenizer's " +
                            std::to_string(vocabSize()) + " ids");
  return m_tokens[size_t(id)];
}

void HfBpeTokenizer::encodeWord(std::string_view word, std::vector<int>& ids) const {
  if (m_ignore_merges)
    if (const int id = pieceId(m_ids, word); id >= 0) {
      ids.push_back(id);
      return;
    }
  std::vector<MergeSymbol> symbols;
  for (size_t i = 0; i < word.size();) {
    const size_t len = utf8CharLength(word, i);
    const std::string_view ch = word.substr(i, len);
    symbols.push_back({pieceId(m_ids, ch), std::string(ch)});
    i += len;
  }
  symbols = mergeBestPairs(std::move(symbols), [&](const MergeSymbol& a, const MergeSymbol& b) {
    if (a.id < 0 || b.id < 0) return std::optional<std::pair<double, int>>();
    const auto it = m_merges.find((uint64_t(uint32_t(a.id)) << 32) | uint32_t(b.id));
    if (it == m_merges.end()) return std::optional<std::pair<double, int>>();
    return std::optional<std::pair<double, int>>({-double(it->second.first), it->second.second});
  });
  bool last_was_unk = false;
  for (const MergeSymbol& s : symbols) {
    if (s.id >= 0) {
      ids.push_back(s.id);
      last_was_unk = false;
      continue;
    }
    const bool bytes_known = std::all_of(s.text.begin(), s.text.end(), [&](char c) {
      return m_byte_ids[static_cast<unsigned char>(c)] >= 0;
    });
    if (m_byte_fallback && bytes_known) {
      for (char c : s.text) ids.push_back(m_byte_ids[static_cast<unsigned char>(c)]);
      last_was_unk = false;
    } else if (m_unk_id >= 0) {
      if (!(m_fuse_unk && last_was_unk)) ids.push_back(m_unk_id);
      last_was_unk = true;
    } else {
      throw std::runtime_error("cannot encode '" + s.text +
                               "': it is not in the vocabulary and the tokenizer has neither "
                               "byte_fallback nor an unk_token");
    }
  }
}

void HfBpeTokenizer::encodeSegment(std::string_view segment, bool at_text_start,
                                   std::vector<int>& ids) const {
  std::string s(segment);
  for (const NormalizerStep& step : m_normalizer) {
    if (step.from.empty()) {
      if (!s.empty()) s = step.to + s;
    } else {
      replaceAll(s, step.from, step.to);
    }
  }
  if (s.empty()) return;
  std::vector<std::string_view> words;
  if (m_metaspace) {
    const std::string& r = m_metaspace_replacement;
    replaceAll(s, " ", r);
    const bool prepend = m_metaspace_prepend == Prepend::Always ||
                         (m_metaspace_prepend == Prepend::First && at_text_start);
    if (prepend && !s.starts_with(r)) s = r + s;
    // split: each word starts at a replacement character (merged with the text after it).
    size_t start = 0;
    for (size_t at = s.find(r, 1); m_metaspace_split && at != std::string::npos;
         at = s.find(r, at + r.size())) {
      if (at > start) words.push_back(std::string_view(s).substr(start, at - start));
      start = at;
    }
    words.push_back(std::string_view(s).substr(start));
  } else {
    if (m_byte_level && m_byte_level_prefix_space && s[0] != ' ') s = " " + s;
    if (m_split) {
      words = splitPreTokens(s, *m_split);
    } else {
      words.push_back(s);
    }
  }
  const auto& byte_chars = gpt2ByteToUnicode();
  std::string mapped;
  for (std::string_view word : words) {
    if (!m_byte_level) {
      encodeWord(word, ids);
      continue;
    }
    mapped.clear();
    for (char c : word) mapped += byte_chars[static_cast<unsigned char>(c)];
    encodeWord(mapped, ids);
  }
}

std::vector<int> HfBpeTokenizer::encode(std::string_view text, bool add_bos, bool add_eos) const {
  std::vector<int> ids;
  if (add_bos && m_bos_id >= 0) ids.push_back(m_bos_id);
  size_t segment_start = 0;
  for (size_t i = 0; i < text.size();) {
    const AddedToken* match = nullptr;
    for (int k : m_added_by_first_byte[static_cast<unsigned char>(text[i])])
      if (text.substr(i).starts_with(m_added_tokens[size_t(k)].content)) {
        match = &m_added_tokens[size_t(k)];
        break;
      }
    if (!match) {
      i += utf8CharLength(text, i);
      continue;
    }
    encodeSegment(text.substr(segment_start, i - segment_start), segment_start == 0, ids);
    ids.push_back(match->id);
    i += match->content.size();
    segment_start = i;
  }
  encodeSegment(text.substr(segment_start), segment_start == 0, ids);
  if (add_eos && m_eos_id >= 0) ids.push_back(m_eos_id);
  return ids;
}

std::string HfBpeTokenizer::decodeNext(int prev, int id) const {
  const std::string& text = tokenText(id);
  if (m_special[size_t(id)]) return {};
  if (m_added[size_t(id)]) return text;
  std::string out;
  if (m_byte_level) {
    for (size_t i = 0; i < text.size();) {
      const size_t len = utf8CharLength(text, i);
      const int byte = gpt2UnicodeToByte(utf8CodePoint(text, i, len));
      if (byte >= 0) {
        out += static_cast<char>(byte);
      } else {
        out.append(text, i, len);
      }
      i += len;
    }
    return out;
  }
  if (const int byte = bytePieceValue(text); m_byte_fallback && byte >= 0)
    return std::string(1, static_cast<char>(byte));
  out = text;
  replaceAll(out, m_metaspace_replacement, " ");
  const bool at_start = prev < 0 || (prev < vocabSize() && m_special[size_t(prev)]);
  if (m_strip_first_space && at_start && !out.empty() && out[0] == ' ') out.erase(0, 1);
  return out;
}

}  // namespace mola
