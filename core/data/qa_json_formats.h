// SPDX-License-Identifier: GPL-3.0-or-later
// Readers of the JSON and JSONL QA formats (internal to importQa; see qa_importer.h for each).
#pragma once

#include <filesystem>
#include <string>

#include "data/qa_importer.h"
#include "data/qa_record.h"

namespace mola::qa_import {

// commonsense_qa and openbookqa_jsonl: `format` is the name the dataset reports.
QaDataset readOfficialJsonl(const std::filesystem::path& file, const std::string& text,
                            const std::string& format);
QaDataset readFlatJsonl(const std::filesystem::path& file, const std::string& text);
QaDataset readArcHf(const std::filesystem::path& file, const std::string& text);
QaDataset readScienceQa(const std::filesystem::path& file, const std::string& text,
                        const QaImportOptions& options);
QaDataset readPiqa(const std::filesystem::path& file, const std::string& text,
                   const QaImportOptions& options);
QaDataset readGenericJsonl(const std::filesystem::path& file, const std::string& text,
                           const QaFieldMapping& fields);

// "Question: What is X?\nAnswer:" -> "What is X?"; anything else unchanged.
std::string stripPromptWrapping(const std::string& query);

}  // namespace mola::qa_import
