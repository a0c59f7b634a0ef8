// SPDX-License-Identifier: GPL-3.0-or-later
// Helpers the tokenizer formats share: UTF-8 stepping, byte pieces, and best-pair-first merging.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <queue>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace mola {

// Lets unordered maps keyed by std::string be searched with a std::string_view (no copy).
struct TransparentStringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using PieceIds = std::unordered_map<std::string, int, TransparentStringHash, std::equal_to<>>;

inline int pieceId(const PieceIds& ids, std::string_view piece) {
  auto it = ids.find(piece);
  return it == ids.end() ? -1 : it->second;
}

// Bytes in the UTF-8 character that starts at s[i]: the length its lead byte declares when the
// continuation bytes are all there, else 1 (a malformed byte stands alone).
inline size_t utf8CharLength(std::string_view s, size_t i) {
  const auto lead = static_cast<unsigned char>(s[i]);
  const size_t want = lead < 0x80           ? 1
                      : (lead >> 5) == 0x6  ? 2
                      : (lead >> 4) == 0xE  ? 3
                      : (lead >> 3) == 0x1E ? 4
                                            : 1;
  if (i + want > s.size()) return 1;
  for (size_t k = 1; k < want; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 1;
  return want;
}

// The code point of the character at s[i] (its length from utf8CharLength); U+FFFD when malformed.
inline char32_t utf8CodePoint(std::string_view s, size_t i, size_t length) {
  const auto b = [&](size_t k) { return char32_t(static_cast<unsigned char>(s[i + k])); };
  switch (length) {
    case 1:
      return b(0) < 0x80 ? b(0) : char32_t(0xFFFD);
    case 2:
      return ((b(0) & 0x1F) << 6) | (b(1) & 0x3F);
    case 3:
      return ((b(0) & 0x0F) << 12) | ((b(1) & 0x3F) << 6) | (b(2) & 0x3F);
    default:
      return ((b(0) & 0x07) << 18) | ((b(1) & 0x3F) << 12) | ((b(2) & 0x3F) << 6) | (b(3) & 0x3F);
  }
}

inline void appendUtf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

// "<0x41>" for byte 0x41: the byte-fallback piece of SentencePiece and llama2.c (uppercase hex).
inline std::string bytePieceText(unsigned char byte) {
  const char* hex = "0123456789ABCDEF";
  return std::string("<0x") + hex[byte >> 4] + hex[byte & 0xF] + ">";
}

// The byte of a "<0xHH>" piece (either case of hex digit), or -1 when `piece` is not one.
inline int bytePieceValue(std::string_view piece) {
  if (piece.size() != 6 || piece.substr(0, 3) != "<0x" || piece[5] != '>') return -1;
  int value = 0;
  for (char c : piece.substr(3, 2)) {
    const int digit = (c >= '0' && c <= '9')   ? c - '0'
                      : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                      : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                                               : -1;
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}

// One symbol of a word being merged: its vocabulary id (-1 when its text has none) and its text.
struct MergeSymbol {
  int id = -1;
  std::string text;
};

// Merges adjacent symbols pairwise, always the pair of highest priority first and the leftmost of
// equals, until no adjacent pair merges. `pair_merge(left, right)` returns {priority, merged id} or
// nothing: llama2.c and SentencePiece BPE use the merged piece's score, Hugging Face BPE minus the
// merge's rank. This is the same sequence of merges as llama2.c's rescan-everything loop, but a
// heap with stale entries skipped makes it O(n log n) instead of O(n^2) for long texts.
template <typename PairMerge>
std::vector<MergeSymbol> mergeBestPairs(std::vector<MergeSymbol> symbols, PairMerge pair_merge) {
  const int n = static_cast<int>(symbols.size());
  if (n < 2) return symbols;
  std::vector<int> prev(static_cast<size_t>(n)), next(static_cast<size_t>(n));
  std::vector<char> alive(static_cast<size_t>(n), 1);
  for (int i = 0; i < n; ++i) {
    prev[size_t(i)] = i - 1;
    next[size_t(i)] = i + 1 < n ? i + 1 : -1;
  }
  // A candidate is stale once either side has merged elsewhere; the summed text length tells,
  // because a live symbol's text only grows (by absorbing its right neighbour).
  struct Candidate {
    double priority;
    int left;
    int right;
    size_t length;
    int id;
  };
  auto worse = [](const Candidate& a, const Candidate& b) {
    return a.priority != b.priority ? a.priority < b.priority : a.left > b.left;
  };
  std::priority_queue<Candidate, std::vector<Candidate>, decltype(worse)> heap(worse);
  auto consider = [&](int l, int r) {
    if (l < 0 || r < 0) return;
    const MergeSymbol& a = symbols[size_t(l)];
    const MergeSymbol& b = symbols[size_t(r)];
    if (std::optional<std::pair<double, int>> m = pair_merge(a, b))
      heap.push({m->first, l, r, a.text.size() + b.text.size(), m->second});
  };
  for (int i = 0; i + 1 < n; ++i) consider(i, i + 1);
  while (!heap.empty()) {
    const Candidate c = heap.top();
    heap.pop();
    MergeSymbol& a = symbols[size_t(c.left)];
    MergeSymbol& b = symbols[size_t(c.right)];
    if (!alive[size_t(c.left)] || !alive[size_t(c.right)] || next[size_t(c.left)] != c.right ||
        a.text.size() + b.text.size() != c.length)
      continue;
    a.text += b.text;
    a.id = c.id;
    alive[size_t(c.right)] = 0;
    next[size_t(c.left)] = next[size_t(c.right)];
    if (next[size_t(c.left)] >= 0) prev[size_t(next[size_t(c.left)])] = c.left;
    consider(prev[size_t(c.left)], c.left);
    consider(c.left, next[size_t(c.left)]);
  }
  std::vector<MergeSymbol> out;
  for (int i = 0; i >= 0; i = next[size_t(i)]) out.push_back(std::move(symbols[size_t(i)]));
  return out;
}

}  // namespace mola
