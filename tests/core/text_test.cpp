// SPDX-License-Identifier: GPL-3.0-or-later
// Text helpers: terminal-safe text, UTF-8 aware table columns, CSV fields (RFC 4180).
#include "text.h"

#include <cmath>
#include <limits>
#include <string>

#include <gtest/gtest.h>

namespace mola {
namespace {

TEST(PrintableText, ControlCharactersAndBrokenUtf8BecomeVisibleEscapes) {
  EXPECT_EQ(printableText("plain text, ümlaut, 漢字, 🙂"),
            "plain text, ümlaut, 漢字, 🙂");
  // An escape sequence that would clear the screen, a bell, DEL, and a C1 CSI (U+009B).
  EXPECT_EQ(printableText("a\x1b[2Jb\x07\x7f"
                          "c\xc2\x9b"),
            "a\\x1B[2Jb\\x07\\x7Fc\\x9B");
  EXPECT_EQ(printableText("line\nnext\ttab"), "line\nnext\ttab");
  EXPECT_EQ(printableText("line\nnext\ttab", false), "line\\x0Anext\\x09tab");
  EXPECT_EQ(printableText("carriage\rreturn"), "carriage\\x0Dreturn");
  // Bytes that are not UTF-8: a lone continuation byte, a cut sequence, an overlong '/', a
  // surrogate.
  EXPECT_EQ(printableText("x\x80y"), "x\\x80y");
  EXPECT_EQ(printableText("\xe6\xbc"), "\\xE6\\xBC");
  EXPECT_EQ(printableText("\xc0\xaf"), "\\xC0\\xAF");
  EXPECT_EQ(printableText("\xed\xa0\x80"), "\\xED\\xA0\\x80");
}

TEST(TextColumn, CutsAndPadsByCharactersNeverInsideOne) {
  EXPECT_EQ(textColumn("abc", 5), "abc  ");
  EXPECT_EQ(textColumn("abcdef", 4), "abcd");
  // Four characters of two and three bytes each: the cut falls between characters.
  EXPECT_EQ(textColumn("ééé漢字", 4), "ééé漢");
  EXPECT_EQ(textColumn("漢字", 3), "漢字 ");
  EXPECT_EQ(textColumn("", 2), "  ");
}

TEST(CsvField, QuotesOnlyWhatNeedsIt) {
  EXPECT_EQ(csvField("loss"), "loss");
  EXPECT_EQ(csvField("a,b"), "\"a,b\"");
  EXPECT_EQ(csvField("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(csvField("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(csvField(" padded"), "\" padded\"");
  EXPECT_EQ(csvField(""), "");
}

TEST(CsvNumber, ShortestTextThatReadsBackExactly) {
  EXPECT_EQ(csvNumber(0.1), "0.1");
  EXPECT_EQ(csvNumber(2.5e-7), "2.5e-07");
  EXPECT_EQ(csvNumber(-3.0), "-3");
  EXPECT_EQ(csvNumber(std::nan("")), "");  // a gap, as pandas reads it
  const double third = 1.0 / 3.0;
  EXPECT_EQ(std::stod(csvNumber(third)), third);
  EXPECT_EQ(csvNumber(std::numeric_limits<double>::infinity()), "inf");
}

TEST(ClockText, MinutesUnderAnHourHoursFromThen) {
  EXPECT_EQ(clockText(0), "0:00");
  EXPECT_EQ(clockText(18.4), "0:18");
  EXPECT_EQ(clockText(59.6), "1:00");
  EXPECT_EQ(clockText(3599), "59:59");
  EXPECT_EQ(clockText(3600), "1:00:00");
  EXPECT_EQ(clockText(90061), "25:01:01");
  EXPECT_EQ(clockText(-5), "0:00");
}

}  // namespace
}  // namespace mola
