// SPDX-License-Identifier: GPL-3.0-or-later
// Small text helpers shared by the parsers of core and the command line (torch-free).
#pragma once

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace mola {

// `s` without leading and trailing whitespace.
inline std::string_view trimWhitespace(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// The whole content of the regular file `path`, which the message of any error names as `what`
// (e.g. "a data file"). A missing file, a folder, and anything that is not a regular file (a
// device such as /dev/zero, which never ends; a pipe) are refused before anything is read, and so
// is a file larger than `max_bytes`. Throws std::runtime_error.
std::string readWholeFile(const std::filesystem::path& path, const std::string& what,
                          uintmax_t max_bytes = uintmax_t{1} << 30);

// `s` made safe to print on a terminal: control characters (C0 but newline and, when
// `keep_newlines`, tab; DEL; C1), which could move the cursor or rewrite the screen, and bytes
// that are not UTF-8 become visible \xNN escapes; everything else passes unchanged.
std::string printableText(std::string_view s, bool keep_newlines = true);

// `s` cut to at most `width` characters (UTF-8 code points, never inside one) and padded with
// spaces to `width`: a column of a text table.
std::string textColumn(std::string_view s, size_t width);

// A duration as a clock: "m:ss" under an hour, "h:mm:ss" from an hour on (negative: 0:00).
std::string clockText(double seconds);

// `s` as one CSV field (RFC 4180): quoted, with quotes doubled, when it holds a comma, a quote, or
// a line break (or starts or ends with a space); as it is otherwise.
std::string csvField(std::string_view s);
// `v` as a CSV number: the shortest form that reads back as the same double; NaN as an empty
// field.
std::string csvNumber(double v);

// 1234567 -> "1,234,567".
std::string thousands(int64_t v);

// How many terminal columns UTF-8 text takes (one per code point).
size_t displayWidth(std::string_view s);

}  // namespace mola
