// SPDX-License-Identifier: GPL-3.0-or-later
// GGUF without Torch: block formats dequantised to values worked out by hand from ggml's layouts,
// metadata and tensor tables read back from files written here, and every kind of damage named.
#include "model/gguf.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "expect_error.h"
#include "model/gguf_llama.h"
#include "shared_data.h"

namespace mola {
namespace {

namespace fs = std::filesystem;

void put(std::string& out, const void* p, size_t n) {
  out.append(static_cast<const char*>(p), n);
}
template <typename T>
void put(std::string& out, T v) {
  put(out, &v, sizeof v);
}
void putString(std::string& out, const std::string& s) {
  put<uint64_t>(out, s.size());
  out += s;
}

// A GGUF file written by hand: metadata (string, uint32, float32 and string-array values) and
// tensors with their raw bytes, aligned to 32.
struct GgufWriter {
  struct Tensor {
    std::string name;
    std::vector<uint64_t> dims;
    uint32_t type;
    std::string bytes;
  };
  std::vector<std::string> kvs;  // each already encoded: key, type, value
  std::vector<Tensor> tensors;
  uint32_t version = 3;

  void string(const std::string& key, const std::string& value) {
    std::string kv;
    putString(kv, key);
    put<uint32_t>(kv, 8);
    putString(kv, value);
    kvs.push_back(kv);
  }
  void u32(const std::string& key, uint32_t value) {
    std::string kv;
    putString(kv, key);
    put<uint32_t>(kv, 4);
    put(kv, value);
    kvs.push_back(kv);
  }
  void f32(const std::string& key, float value) {
    std::string kv;
    putString(kv, key);
    put<uint32_t>(kv, 6);
    put(kv, value);
    kvs.push_back(kv);
  }
  void strings(const std::string& key, const std::vector<std::string>& values) {
    std::string kv;
    putString(kv, key);
    put<uint32_t>(kv, 9);
    put<uint32_t>(kv, 8);
    put<uint64_t>(kv, values.size());
    for (const std::string& v : values) putString(kv, v);
    kvs.push_back(kv);
  }
  std::string bytes() const {
    std::string out = "GGUF";
    put(out, version);
    put<uint64_t>(out, tensors.size());
    put<uint64_t>(out, kvs.size());
    for (const std::string& kv : kvs) out += kv;
    uint64_t offset = 0;
    for (const Tensor& t : tensors) {
      putString(out, t.name);
      put<uint32_t>(out, uint32_t(t.dims.size()));
      for (uint64_t d : t.dims) put(out, d);
      put(out, t.type);
      put(out, offset);
      offset += (t.bytes.size() + 31) / 32 * 32;
    }
    out.append((32 - out.size() % 32) % 32, '\0');
    for (const Tensor& t : tensors) {
      out += t.bytes;
      out.append((32 - t.bytes.size() % 32) % 32, '\0');
    }
    return out;
  }
  fs::path write(const fs::path& path) const {
    const std::string b = bytes();
    std::ofstream(path, std::ios::binary).write(b.data(), std::streamsize(b.size()));
    return path;
  }
};

std::string half(uint16_t h) {
  std::string s;
  put(s, h);
  return s;
}

std::vector<float> dequant(GgmlType type, const std::string& block, uint64_t count) {
  std::vector<float> out(count);
  dequantizeGgml(uint32_t(type), reinterpret_cast<const std::byte*>(block.data()), count,
                 out.data());
  return out;
}

TEST(GgufBlocks, Q4_0AndQ4_1ByHand) {
  // d = 0.5 (0x3800); byte l holds value l in its low nibble and value l + 16 in its high one.
  std::string q4_0 = half(0x3800);
  for (int l = 0; l < 16; ++l) q4_0 += char((l & 0xF) | ((15 - l) << 4));
  const std::vector<float> a = dequant(GgmlType::Q4_0, q4_0, 32);
  EXPECT_EQ(a[0], (0 - 8) * 0.5f);
  EXPECT_EQ(a[5], (5 - 8) * 0.5f);
  EXPECT_EQ(a[16], (15 - 8) * 0.5f);
  EXPECT_EQ(a[31], (0 - 8) * 0.5f);
  // Q4_1: d = 2 (0x4000), m = -1 (0xBC00): x = 2 q - 1.
  std::string q4_1 = half(0x4000) + half(0xBC00);
  for (int l = 0; l < 16; ++l) q4_1 += char(l | (l << 4));
  const std::vector<float> b = dequant(GgmlType::Q4_1, q4_1, 32);
  EXPECT_EQ(b[3], 2.0f * 3 - 1);
  EXPECT_EQ(b[19], 2.0f * 3 - 1);
  EXPECT_EQ(b[15], 2.0f * 15 - 1);
}

TEST(GgufBlocks, Q8_0AndTheFloatFormatsByHand) {
  std::string q8 = half(0x3400);  // d = 0.25
  for (int l = 0; l < 32; ++l) q8 += char(int8_t(l - 16));
  const std::vector<float> a = dequant(GgmlType::Q8_0, q8, 32);
  EXPECT_EQ(a[0], -16 * 0.25f);
  EXPECT_EQ(a[31], 15 * 0.25f);
  // F16: 1.5, a subnormal (2^-24), -inf; BF16: -2.
  const std::vector<float> h =
      dequant(GgmlType::F16, half(0x3E00) + half(0x0001) + half(0xFC00), 3);
  EXPECT_EQ(h[0], 1.5f);
  EXPECT_EQ(h[1], std::ldexp(1.0f, -24));
  EXPECT_TRUE(std::isinf(h[2]) && h[2] < 0);
  EXPECT_EQ(dequant(GgmlType::BF16, half(0xC000), 1)[0], -2.0f);
  EXPECT_THROW(dequant(GgmlType::Q8_0, q8, 31), std::invalid_argument);
}

// A K-quant block's 12 scale bytes for sub-block scales s[0..7] and mins m[0..7] (6 bits each):
// the first four in the low 6 bits of bytes 0-3 and 4-7, the last four split over bytes 8-11 and
// the top 2 bits of bytes 0-7.
std::string kScales(const int s[8], const int m[8]) {
  unsigned char b[12] = {};
  for (int j = 0; j < 4; ++j) {
    b[j] = uint8_t(s[j] | ((s[j + 4] >> 4) << 6));
    b[j + 4] = uint8_t(m[j] | ((m[j + 4] >> 4) << 6));
    b[j + 8] = uint8_t((s[j + 4] & 0xF) | ((m[j + 4] & 0xF) << 4));
  }
  return std::string(reinterpret_cast<const char*>(b), 12);
}

TEST(GgufBlocks, Q4_KAndQ5_KByHand) {
  const int s[8] = {1, 2, 3, 4, 33, 45, 60, 63}, m[8] = {0, 1, 2, 3, 17, 31, 47, 62};
  // d = 1, dmin = 0.5; nibble bytes: byte 32c + l of chunk c holds (l % 16) low and 15 - l % 16
  // high.
  std::string q4k = half(0x3C00) + half(0x3800) + kScales(s, m);
  for (int c = 0; c < 4; ++c)
    for (int l = 0; l < 32; ++l) q4k += char((l % 16) | ((15 - l % 16) << 4));
  const std::vector<float> a = dequant(GgmlType::Q4_K, q4k, 256);
  // Value 64c + l (l < 32) uses sub-block 2c and the low nibble; 64c + 32 + l sub-block 2c + 1 and
  // the high nibble: x = d * scale * q - dmin * min.
  for (int c = 0; c < 4; ++c)
    for (int l : {0, 7, 31}) {
      EXPECT_EQ(a[64 * c + l], float(s[2 * c] * (l % 16)) - 0.5f * m[2 * c]) << c << " " << l;
      EXPECT_EQ(a[64 * c + 32 + l], float(s[2 * c + 1] * (15 - l % 16)) - 0.5f * m[2 * c + 1])
          << c << " " << l;
    }
  // Q5_K: the same with a fifth bit: high-bit byte l has bit 2c set for odd l (low nibbles of
  // chunk c) and bit 2c + 1 for l divisible by 3 (high nibbles).
  std::string q5k = half(0x3C00) + half(0x3800) + kScales(s, m);
  for (int l = 0; l < 32; ++l) {
    uint8_t bits = 0;
    for (int c = 0; c < 4; ++c)
      bits |= uint8_t(((l % 2 == 1) << (2 * c)) | ((l % 3 == 0) << (2 * c + 1)));
    q5k += char(bits);
  }
  for (int c = 0; c < 4; ++c)
    for (int l = 0; l < 32; ++l) q5k += char((l % 16) | ((15 - l % 16) << 4));
  const std::vector<float> b = dequant(GgmlType::Q5_K, q5k, 256);
  for (int c = 0; c < 4; ++c)
    for (int l : {0, 1, 3, 30, 31}) {
      const int low = l % 16 + (l % 2 == 1 ? 16 : 0), high = 15 - l % 16 + (l % 3 == 0 ? 16 : 0);
      EXPECT_EQ(b[64 * c + l], float(s[2 * c] * low) - 0.5f * m[2 * c]) << c << " " << l;
      EXPECT_EQ(b[64 * c + 32 + l], float(s[2 * c + 1] * high) - 0.5f * m[2 * c + 1])
          << c << " " << l;
    }
}

TEST(GgufBlocks, Q6_KByHand) {
  // Value 128h + 32k + l (h half, k quarter, l < 32) takes its low 4 bits from byte
  // 64h + 32 (k % 2) + l (the low nibble for k < 2, the high one after), its top 2 bits from bits
  // 2k of byte 128 + 32h + l, and scale 8h + 2k + l / 16: x = d scale (q - 32).
  std::string q6(210, '\0');
  for (int i = 0; i < 128; ++i) q6[size_t(i)] = char((i % 16) | ((i / 8 % 16) << 4));
  for (int i = 0; i < 64; ++i) q6[size_t(128 + i)] = char(i * 37 % 256);
  for (int i = 0; i < 16; ++i) q6[size_t(192 + i)] = char(int8_t(i - 8));
  std::memcpy(&q6[208], "\x00\x38", 2);  // d = 0.5
  const std::vector<float> y = dequant(GgmlType::Q6_K, q6, 256);
  const auto byte = [&](int i) { return uint8_t(q6[size_t(i)]); };
  for (int h = 0; h < 2; ++h)
    for (int k = 0; k < 4; ++k)
      for (int l : {0, 15, 16, 31}) {
        const uint8_t lowbyte = byte(64 * h + (k % 2 == 1 ? 32 : 0) + l);
        const int low = k < 2 ? lowbyte & 0xF : lowbyte >> 4;
        const int top = (byte(128 + 32 * h + l) >> (2 * k)) & 3;
        const int scale = int8_t(byte(192 + 8 * h + 2 * k + l / 16));
        EXPECT_EQ(y[size_t(128 * h + 32 * k + l)],
                  0.5f * float(scale) * float((low | top << 4) - 32))
            << h << " " << k << " " << l;
      }
}

GgufWriter tinyLlama() {
  GgufWriter w;
  w.string("general.architecture", "llama");
  w.u32("llama.block_count", 1);
  w.u32("llama.embedding_length", 64);
  w.u32("llama.feed_forward_length", 96);
  w.u32("llama.attention.head_count", 4);
  w.u32("llama.attention.head_count_kv", 2);
  w.f32("llama.rope.freq_base", 5e5f);
  w.f32("llama.attention.layer_norm_rms_epsilon", 1e-6f);
  w.u32("llama.vocab_size", 32);
  w.tensors.push_back({"token_embd.weight", {64, 32}, 0, std::string(64 * 32 * 4, '\0')});
  return w;
}

TEST(GgufFile, MetadataAndTensorTable) {
  const fs::path dir = test::tempDir("gguf_read");
  GgufWriter w = tinyLlama();
  w.strings("tokenizer.ggml.tokens", {"a", "b"});
  const GgufFile f = GgufFile::open(w.write(dir / "tiny.gguf"));
  EXPECT_EQ(f.string("general.architecture"), "llama");
  EXPECT_EQ(f.integer("llama.block_count"), 1);
  EXPECT_NEAR(*f.real("llama.rope.freq_base"), 5e5, 1e-9);
  EXPECT_EQ(f.strings("tokenizer.ggml.tokens")->size(), 2u);
  EXPECT_EQ(f.integer("absent"), std::nullopt);
  test::expectErrorContaining<std::runtime_error>([&] { f.integer("general.architecture"); },
                                                  "metadata 'general.architecture' is not an "
                                                  "integer");
  const GgufTensorInfo* t = f.find("token_embd.weight");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->shape(), (std::vector<int64_t>{32, 64}));
  EXPECT_EQ(t->bytes, 64u * 32u * 4u);
  const LlamaConfig c = ggufLlamaConfig(f);
  EXPECT_EQ(c.num_layers, 1);
  EXPECT_EQ(c.d_model, 64);
  EXPECT_EQ(c.num_kv_heads, 2);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.rope_theta, 5e5);
  EXPECT_TRUE(c.tied_embeddings) << "no output.weight";
  EXPECT_TRUE(isGgufFile(dir / "tiny.gguf"));
}

TEST(GgufFile, DamageIsNamed) {
  const fs::path dir = test::tempDir("gguf_damage");
  const auto expect = [&](const std::string& bytes, const std::string& needle) {
    const fs::path p = dir / "bad.gguf";
    std::ofstream(p, std::ios::binary | std::ios::trunc)
        .write(bytes.data(), std::streamsize(bytes.size()));
    test::expectErrorContaining<std::runtime_error>([&] { GgufFile::open(p); },
                                                    p.string() + ": " + needle);
  };
  const std::string good = tinyLlama().bytes();
  expect(good.substr(0, good.size() - 100), "tensor 'token_embd.weight' ends at byte");
  expect(good.substr(0, 40), "truncated: metadata");
  expect("GGML" + good.substr(4), "is not a GGUF file");
  GgufWriter v2 = tinyLlama();
  v2.version = 2;
  expect(v2.bytes(), "is GGUF version 2; this reader reads version 3");
  GgufWriter unknown = tinyLlama();
  unknown.tensors[0].type = 7;  // Q5_1
  expect(unknown.bytes(), "tensor 'token_embd.weight' has tensor type type 7, which this reader");
  // A string length far beyond the file.
  std::string huge = good;
  const uint64_t absurd = uint64_t(1) << 60;
  std::memcpy(&huge[24], &absurd, 8);  // the first key's length
  expect(huge, "truncated: metadata key 0 needs 1152921504606846976 bytes");

  GgufWriter mistral = tinyLlama();
  mistral.kvs.erase(mistral.kvs.begin());
  mistral.string("general.architecture", "falcon");
  const GgufFile f = GgufFile::open(mistral.write(dir / "falcon.gguf"));
  test::expectErrorContaining<std::runtime_error>(
      [&] { ggufLlamaConfig(f); }, "general.architecture is 'falcon'; only 'llama' files");
}

}  // namespace
}  // namespace mola
