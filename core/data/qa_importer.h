// SPDX-License-Identifier: GPL-3.0-or-later
// importQa: reads a multiple-choice benchmark file in any supported format into a QaDataset
// (torch-free).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "data/qa_record.h"

namespace mola {

// The formats, by the name importQa takes and QaDataset::format reports:
//
//   commonsense_qa    The official CommonsenseQA JSONL: {"id", "question": {"stem", "choices":
//                     [{"label", "text"}, ...]}, "answerKey"}. ARC's official JSONL has the same
//                     schema (its labels and answerKey may be "1".."4" as well as letters) and is
//                     read as this format. An optional "fact1" becomes the context.
//   openbookqa_jsonl  OpenBookQA's JSONL: the same schema and reader as commonsense_qa; detected
//                     when the records carry "fact1" (the "additional" release), whose text becomes
//                     the context. OpenBookQA's main JSONL has no fact1 and is detected as
//                     commonsense_qa, which reads it identically.
//   flat_jsonl        {"query": str, "choices": [str, ...], "gold": int (0-based)}, as in
//                     ../shared/data/commonsense_qa and arc_easy, where "query" is the bare
//                     question. A query written as a prompt ("Question: ...\nAnswer:") has that
//                     wrapping removed, so the prompt template does not repeat it.
//   arc_hf            The Hugging Face schema of ARC (and of CommonsenseQA and OpenBookQA there):
//                     {"id", "question": str, "choices": {"text": [...], "label": [...]},
//                     "answerKey"}; OpenBookQA's "question_stem" is read in place of "question",
//                     and "fact1" as the context.
//   openbookqa_tsv    OpenBookQA's official TSV with the header
//                     "ID, Question Stem, Choices, Complete Question, Answer Key", Choices written
//                     "(A) text (B) text (C) text (D) text".
//   scienceqa         ScienceQA's problems.json: one JSON object of pid -> {"question", "choices",
//                     "answer" (0-based int), "hint", "lecture", "image", "split"}. Only text-only
//                     questions (image null) are read; how many were left out for an image is one
//                     entry of QaDataset::notes. The hint is the context, followed by
//                     the lecture when QaImportOptions::scienceqa_lecture is set (lectures are
//                     long: they alone often exceed the 256-token cutoff). The split comes from
//                     pid_splits.json beside the file (in its order), else from each problem's
//                     "split" field.
//   piqa              PIQA's JSONL {"goal", "sol1", "sol2"} with the labels (one 0 or 1 per line)
//                     in a separate file: the same stem + "-labels.lst" beside it (train.jsonl ->
//                     train-labels.lst, valid.jsonl -> valid-labels.lst), or
//                     QaImportOptions::labels_file. Question = goal, choices = [sol1, sol2].
//   glue_mrpc         GLUE MRPC TSV: header "Quality, #1 ID, #2 ID, #1 String, #2 String" (a
//                     UTF-8 BOM allowed), split on tabs only. Context "Sentence 1: ...\nSentence 2:
//                     ...", question "Do sentence 1 and sentence 2 mean the same thing?", choices
//                     [no, yes], answer = Quality; id = "#1 ID-#2 ID".
//   glue_rte          GLUE RTE TSV: header "index, sentence1, sentence2, label", label
//                     entailment / not_entailment (or 1 / 0, as WNLI writes it). Context
//                     "Premise: ...\nHypothesis: ...", question "Does the premise entail the
//                     hypothesis?", choices [no, yes]; id = index.
//   glue_cola         GLUE CoLA TSV without a header: source, label (0/1), original annotation,
//                     sentence. Context = the sentence, question "Is this sentence grammatically
//                     acceptable?", choices [no, yes]; no id (the source code is not unique).
//   generic_jsonl     Any JSONL (or a JSON array of objects) with the field names given in
//                     QaImportOptions::fields. Never chosen by detection.
//
// The JSON formats also accept a file holding one JSON array of such objects instead of JSONL;
// their problems then name "record N" (1-based) with line 0.
//
// Rows that cannot be used (malformed JSON, a missing field, fewer than 2 or more than 26
// choices, an answer out of range, an empty question) are left out and each is listed in
// QaDataset::skipped with file, line and reason. The whole import fails (std::runtime_error
// naming the file and the first problem, file:line and field) when the file is missing, empty,
// of an unrecognisable format, or when no row, or only a minority of rows, can be used: a file
// where most rows fail is the wrong format rather than a file with a few bad rows.

// Field names for generic_jsonl; a dotted name ("question.stem") reaches into nested objects.
struct QaFieldMapping {
  std::string question = "question";
  std::string choices = "choices";  // an array of strings
  // An integer index (0-based unless answer_one_based), a string holding such an integer, a
  // letter "A".."Z" (any case), or the exact text of one of the choices.
  std::string answer = "answer";
  std::string context;  // empty: no context
  std::string id;       // empty: no id
  bool answer_one_based = false;
};

struct QaImportOptions {
  std::string format;  // one of qaFormats(); empty: detect from the content
  std::string split;   // scienceqa: the split to read ("train", "val", "test", ...); empty: all
  bool scienceqa_lecture = false;     // scienceqa: append the lecture to the hint as context
  std::filesystem::path labels_file;  // piqa: the labels file; empty: found beside the file
  QaFieldMapping fields;              // generic_jsonl
};

QaDataset importQa(const std::filesystem::path& file, const std::string& format = "");
QaDataset importQa(const std::filesystem::path& file, const QaImportOptions& options);

// The format importQa would choose for `file` by its content. Throws std::runtime_error naming
// the file when it is missing, empty, or like none of the formats.
std::string detectQaFormat(const std::filesystem::path& file);

// Every format name importQa accepts, in the order documented above.
std::vector<std::string> qaFormats();

}  // namespace mola
