// SPDX-License-Identifier: GPL-3.0-or-later
// Readers of the tab-separated QA formats: OpenBookQA TSV and GLUE MRPC, RTE, CoLA (internal).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "data/qa_record.h"

namespace mola::qa_import {

QaDataset readOpenBookQaTsv(const std::filesystem::path& file, const std::string& text);
QaDataset readGlueMrpc(const std::filesystem::path& file, const std::string& text);
QaDataset readGlueRte(const std::filesystem::path& file, const std::string& text);
QaDataset readGlueCola(const std::filesystem::path& file, const std::string& text);

// "(A) red (B) green (C) blue" -> {"red", "green", "blue"}: each letter in turn, so a stray
// "(D)" inside the last choice's text stays part of it. Throws RowError when it does not start
// with "(A) " or has fewer than two choices.
std::vector<std::string> splitLetteredChoices(std::string_view text);

// True when `line` looks like a CoLA row: source, 0 or 1, an annotation of * and ?, a sentence.
bool looksLikeColaRow(std::string_view line);

}  // namespace mola::qa_import
