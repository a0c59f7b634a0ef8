// SPDX-License-Identifier: GPL-3.0-or-later
// Hostile input to the real `mola` binary: sizes that would exhaust memory are refused with the
// key or file named (never an allocator error), devices are not read as files, text from data
// files and the database cannot drive the terminal, columns never cut a character in half, and
// CSV fields are quoted.
#include <gtest/gtest.h>

#include <climits>
#include <cstdint>
#include <fstream>
#include <string>

#include "cli_runner.h"
#include "store/run_store.h"

namespace {

namespace fs = std::filesystem;
using mola::test::has;
using mola::test::Result;
using mola::test::run;
using mola::test::slurp;
using mola::test::writeExperiment;

void expectNoAllocatorError(const Result& r) {
  EXPECT_FALSE(has(r.err, "alloc")) << r.err;
  EXPECT_FALSE(has(r.err, "frame #")) << "a LibTorch stack trace\n" << r.err;
}

// True when `s` is well-formed UTF-8.
bool validUtf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += n;
  }
  return true;
}

TEST(HostileInput, AnAbsurdRankIsRefusedWithItsKey) {
  const fs::path dir = mola::test::tempDir("hostile_rank");
  const std::string db = (dir / "runs.sqlite").string();
  const Result r = run("train " + writeExperiment(dir, 4, 0).string() + " --db " + db +
                       " --set adapter.rank=100000000");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "adapter.rank 100000000 is larger than the smaller side of")) << r.err;
  expectNoAllocatorError(r);
}

TEST(HostileInput, AnAdapterFileWithAnImpossibleShapeIsNamed) {
  const fs::path dir = mola::test::tempDir("hostile_shape");
  // 2^61 x 16 floats: the byte count wraps around 64 bits to 0, which an unchecked product would
  // take for the empty data span below.
  const std::string header =
      R"({"lora_A":{"dtype":"F32","shape":[2305843009213693952,16],"data_offsets":[0,0]}})";
  std::ofstream out(dir / "huge.safetensors", std::ios::binary);
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.put(char((n >> (8 * i)) & 0xFF));
  out << header;
  out.close();
  const Result r = run("adapter inspect " + (dir / "huge.safetensors").string());
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err,
                  "huge.safetensors: tensor 'lora_A': shape [2305843009213693952,16] is too "
                  "large for any file"))
      << r.err;
  expectNoAllocatorError(r);
}

TEST(HostileInput, ALlama2cHeaderWithAnImpossibleVocabularyIsNamed) {
  const fs::path dir = mola::test::tempDir("hostile_vocab");
  const int32_t header[7] = {64, 172, 2, 8, 4, INT_MIN, 256};
  std::ofstream(dir / "model.bin", std::ios::binary)
      .write(reinterpret_cast<const char*>(header), sizeof header);
  const Result r = run("generate --model " + (dir / "model.bin").string() + " --prompt x");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "model.bin: the file has 28 bytes but its header needs")) << r.err;
  expectNoAllocatorError(r);
}

TEST(HostileInput, DevicesAreNotReadAsFiles) {
  Result r = run("data check /dev/zero");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "/dev/zero: is not a regular file")) << r.err;
  r = run("train /dev/zero");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "/dev/zero")) << r.err;
}

TEST(HostileInput, EscapeSequencesInDataNeverReachTheTerminal) {
  const fs::path dir = mola::test::tempDir("hostile_escapes");
  // A question that would clear the screen and retitle the terminal if printed raw.
  std::ofstream(dir / "evil.jsonl")
      << R"({"query": "Clear?\u001b[2J\u001b]0;pwned\u0007 Which?", "choices": ["a", "b"], )"
      << R"("gold": 0})"
      << "\n";
  const Result r = run("data check " + (dir / "evil.jsonl").string());
  EXPECT_EQ(r.out.find('\x1b'), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find('\x07'), std::string::npos) << r.out;
  EXPECT_TRUE(has(r.out, "Clear?\\x1B[2J\\x1B]0;pwned\\x07 Which?")) << r.out;
}

TEST(HostileInput, RunsListKeepsCharactersWholeAndQuotesCsv) {
  const fs::path dir = mola::test::tempDir("hostile_runs");
  const fs::path db = dir / "runs.sqlite";
  {
    mola::RunStore store = mola::RunStore::open(db);
    // 30 characters of 2 and 3 bytes: the 24-character column cuts between characters.
    std::string name;
    for (int i = 0; i < 10; ++i) name += "é漢\x1b";
    const int64_t id = store.createRun(name, "{}", "2,4", "tiny");
    store.addEvalScore(id, {0, 4, "arc, easy \"v2\"", "test", "likelihood", 0.5, 2, 0.1, 0.9});
    store.setStatus(id, mola::RunStatus::Completed);
  }
  Result r = run("runs list --db " + db.string());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(validUtf8(r.out)) << r.out;
  EXPECT_EQ(r.out.find('\x1b'), std::string::npos) << r.out;
  EXPECT_TRUE(has(r.out, "é漢\\x1Bé漢\\x1B")) << r.out;
  r = run("runs export 1 --csv " + (dir / "csv").string() + " --db " + db.string());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(slurp(dir / "csv/eval_scores.csv"),
                  "4,\"arc, easy \"\"v2\"\"\",test,likelihood,0.5,2,0.1,0.9\n"))
      << slurp(dir / "csv/eval_scores.csv");
}

}  // namespace
