// SPDX-License-Identifier: GPL-3.0-or-later
// Checkpoint files without Torch: CRC-32 against its published check value, manifests that catch
// cut-short, changed and foreign checkpoints, atomic replacement of a folder, and the choice of
// the checkpoint a run resumes from.
#include "train/checkpoint_files.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "shared_data.h"

namespace mola {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A checkpoint folder with two files and a manifest.
fs::path makeCheckpoint(const fs::path& dir, int64_t step, const CheckpointIdentity& identity,
                        const std::string& weights = "weights") {
  fs::create_directories(dir);
  std::ofstream(dir / CheckpointFiles::kAdapter, std::ios::binary) << weights;
  std::ofstream(dir / CheckpointFiles::kState) << R"({"step": )" << step << "}";
  writeCheckpointManifest(dir, {CheckpointFiles::kAdapter, CheckpointFiles::kState}, step,
                          identity);
  return dir;
}

TEST(Crc32, MatchesThePublishedCheckValueInAnySplit) {
  const std::string check = "123456789";
  EXPECT_EQ(crc32(check.data(), check.size()), 0xCBF43926u);  // the CRC-32/ISO-HDLC check value
  EXPECT_EQ(crc32(nullptr, 0), 0u);
  // Chained over pieces of every size (the 8-byte fast path and the byte tail), the same value.
  std::string text;
  for (int i = 0; i < 1000; ++i) text += char(i * 131 % 251);
  const uint32_t whole = crc32(text.data(), text.size());
  for (size_t cut : {size_t(1), size_t(7), size_t(8), size_t(13), size_t(999)}) {
    const uint32_t first = crc32(text.data(), cut);
    EXPECT_EQ(crc32(text.data() + cut, text.size() - cut, first), whole) << cut;
  }
  // A bit-at-a-time CRC written out here, as an independent reference.
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : text) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  EXPECT_EQ(whole, ~c);
}

TEST(CheckpointManifest, AnIntactCheckpointPassesAndEveryDamageIsNamed) {
  const fs::path root = test::tempDir("ckpt_manifest");
  const CheckpointIdentity mine{"aaaabbbbccccddddaaaabbbbccccdddd", 3};
  const fs::path dir = makeCheckpoint(root / "step-4", 4, mine);
  EXPECT_EQ(checkpointProblem(dir, mine), "");
  const std::string manifest = slurp(dir / CheckpointFiles::kManifest);
  EXPECT_NE(manifest.find("\"store_id\": \"aaaabbbbccccddddaaaabbbbccccdddd\""), std::string::npos);

  // Another run of this store, another store, and no store at all.
  EXPECT_NE(checkpointProblem(dir, {mine.store_id, 4}).find("belongs to run 3, not run 4"),
            std::string::npos);
  EXPECT_NE(checkpointProblem(dir, {"ffff", 3}).find("belongs to another run store"),
            std::string::npos);
  EXPECT_NE(checkpointProblem(dir, {"", 3}).find("belongs to another run store"),
            std::string::npos);

  // Cut short, then the same length with other bytes.
  std::ofstream(dir / CheckpointFiles::kAdapter, std::ios::binary | std::ios::trunc) << "weigh";
  EXPECT_NE(checkpointProblem(dir, mine).find(CheckpointFiles::kAdapter +
                                              std::string(" has 5 bytes, the manifest 7")),
            std::string::npos)
      << checkpointProblem(dir, mine);
  std::ofstream(dir / CheckpointFiles::kAdapter, std::ios::binary | std::ios::trunc) << "weighs";
  std::ofstream(dir / CheckpointFiles::kAdapter, std::ios::binary | std::ios::app) << "!";
  EXPECT_NE(checkpointProblem(dir, mine).find("does not match its CRC-32"), std::string::npos);
  fs::remove(dir / CheckpointFiles::kAdapter);
  EXPECT_NE(checkpointProblem(dir, mine).find(CheckpointFiles::kAdapter), std::string::npos);

  // A folder whose manifest was never written (killed while writing) or is garbage.
  fs::remove(dir / CheckpointFiles::kManifest);
  EXPECT_NE(checkpointProblem(dir, mine).find("never finished"), std::string::npos);
  std::ofstream(dir / CheckpointFiles::kManifest) << "{ not json";
  EXPECT_NE(checkpointProblem(dir, mine).find("is damaged"), std::string::npos);
  EXPECT_NE(checkpointProblem(root / "absent", mine).find("does not exist"), std::string::npos);

  // Written before manifests existed (trainer_state.json and rng.bin): accepted unverified.
  const fs::path old = root / "old";
  fs::create_directories(old);
  std::ofstream(old / CheckpointFiles::kState) << "{}";
  std::ofstream(old / "rng.bin") << "x";
  EXPECT_EQ(checkpointProblem(old, mine), "");
}

TEST(CheckpointFolder, ReplacingKeepsACompleteCheckpointAtEveryMoment) {
  const fs::path root = test::tempDir("ckpt_install");
  const CheckpointIdentity id{"", 1};
  const fs::path dir = root / "step-10";
  // First install: a plain rename.
  makeCheckpoint(root / "step-10.tmp", 10, id, "first");
  installCheckpointFolder(root / "step-10.tmp", dir);
  EXPECT_FALSE(fs::exists(root / "step-10.tmp"));
  EXPECT_EQ(slurp(dir / CheckpointFiles::kAdapter), "first");
  // Replacing it: exchanged in one step, the old one removed afterwards.
  makeCheckpoint(root / "step-10.tmp", 10, id, "second");
  installCheckpointFolder(root / "step-10.tmp", dir);
  EXPECT_FALSE(fs::exists(root / "step-10.tmp"));
  EXPECT_FALSE(fs::exists(root / "step-10.old"));
  EXPECT_EQ(slurp(dir / CheckpointFiles::kAdapter), "second");
  EXPECT_EQ(checkpointProblem(dir, id), "");
}

TEST(CheckpointChoice, TheNewestIntactCheckpointWinsAndTheOthersAreNamed) {
  const fs::path root = test::tempDir("ckpt_choice");
  const CheckpointIdentity mine{"1111", 7};
  const fs::path a = makeCheckpoint(root / "step-5", 5, mine);
  const fs::path b = makeCheckpoint(root / "step-10", 10, mine);
  const fs::path c = makeCheckpoint(root / "step-15", 15, {"2222", 7});
  std::ofstream(b / CheckpointFiles::kState, std::ios::trunc) << "{}";  // changed after writing

  const CheckpointChoice choice = chooseResumeCheckpoint(
      {{10, b.string()}, {5, a.string()}, {15, c.string()}, {20, (root / "gone").string()}}, mine);
  ASSERT_TRUE(choice.chosen.has_value());
  EXPECT_EQ(choice.chosen->first, 5);
  EXPECT_EQ(choice.chosen->second, a.string());
  ASSERT_EQ(choice.skipped.size(), 3u);
  EXPECT_EQ(choice.skipped[0].rfind("step 20: ", 0), 0u) << choice.skipped[0];
  EXPECT_NE(choice.skipped[1].find("another run store"), std::string::npos) << choice.skipped[1];
  EXPECT_NE(choice.skipped[2].find(CheckpointFiles::kState), std::string::npos)
      << choice.skipped[2];
  EXPECT_FALSE(chooseResumeCheckpoint({}, mine).chosen.has_value());
}

}  // namespace
}  // namespace mola
