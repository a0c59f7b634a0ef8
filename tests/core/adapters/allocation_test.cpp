// SPDX-License-Identifier: GPL-3.0-or-later
// Allocation parsing, presets and parameter counts against hand-computed values.
#include "adapters/allocation.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "expect_error.h"

namespace mola {
namespace {

template <typename F>
void expectError(F f, const std::string& needle) {
  test::expectErrorContaining<std::invalid_argument>(f, needle);
}

std::vector<int> repeatGroups(const std::vector<int>& groups, int each) {
  std::vector<int> v;
  for (int g : groups) v.insert(v.end(), size_t(each), g);
  return v;
}

TEST(Allocation, PerLayerList) {
  Allocation a = Allocation::parse(" 1, 2,3 ,4", 4);
  EXPECT_EQ(a.perLayer(), (std::vector<int>{1, 2, 3, 4}));
  EXPECT_EQ(a.totalExperts(), 10);
  EXPECT_EQ(a.toList(), "1,2,3,4");
}

TEST(Allocation, GroupStringSplitsIntoQuarters) {
  EXPECT_EQ(Allocation::parse("2-4-6-8", 32).perLayer(), repeatGroups({2, 4, 6, 8}, 8));
  EXPECT_EQ(Allocation::parse("2-4-6-8", 8).perLayer(), (std::vector<int>{2, 2, 4, 4, 6, 6, 8, 8}));
  // 5 layers in 4 groups: boundaries floor(g*5/4) = 0,1,2,3,5, so the top group has two layers.
  EXPECT_EQ(Allocation::parse("2-4-6-8", 5).perLayer(), (std::vector<int>{2, 4, 6, 8, 8}));
  EXPECT_EQ(Allocation::parse("1-3", 6).perLayer(), (std::vector<int>{1, 1, 1, 3, 3, 3}));
}

TEST(Allocation, SingleNumberIsUniform) {
  EXPECT_EQ(Allocation::parse("8", 3).perLayer(), (std::vector<int>{8, 8, 8}));
}

TEST(Allocation, PresetsGiveTheDocumentedCounts) {
  const std::pair<const char*, std::vector<int>> cases[] = {
      {"inverted-triangle", {2, 4, 6, 8}}, {"square", {5, 5, 5, 5}},  {"triangle", {8, 6, 4, 2}},
      {"hourglass", {8, 2, 2, 8}},         {"diamond", {2, 8, 8, 2}},
  };
  for (const auto& [name, groups] : cases) {
    Allocation a = Allocation::preset(name, 32);
    EXPECT_EQ(a.perLayer(), repeatGroups(groups, 8)) << name;
    EXPECT_EQ(a.totalExperts(), 160) << name << ": all named shapes keep 160 per module type";
    EXPECT_EQ(a.presetName(), std::optional<std::string>(name));
    EXPECT_EQ(Allocation::parse(name, 32), a) << name;
  }
  EXPECT_EQ(Allocation::preset("Inverted_Triangle", 4).perLayer(), (std::vector<int>{2, 4, 6, 8}));
  EXPECT_EQ(Allocation::preset("uniform-8", 32).perLayer(), std::vector<int>(32, 8));
  EXPECT_EQ(Allocation::parse("uniform 3", 2).perLayer(), (std::vector<int>{3, 3}));
}

TEST(Allocation, DescribeFindsTheShortestSpelling) {
  EXPECT_EQ(Allocation::parse("2-4-6-8", 32).describe(), "inverted-triangle");
  EXPECT_EQ(Allocation::parse("8-8-8-8", 32).describe(), "uniform-8");
  EXPECT_EQ(Allocation::parse("1-2-3", 6).describe(), "1-2-3");
  EXPECT_EQ(Allocation::parse("1,3,2", 3).describe(), "1,3,2");
}

TEST(Allocation, BadInputSaysWhereAndWhy) {
  expectError([] { Allocation::parse("2,0,3,4", 4); }, "layer 2 of 4 has 0 experts");
  expectError([] { Allocation::parse("2,-1,3,4", 4); }, "layer 2 of 4 has -1 experts");
  expectError([] { Allocation::parse("2,x,3,4", 4); }, "layer 2 of 4: 'x' is not a whole number");
  expectError([] { Allocation::parse("2,3,4", 4); }, "lists 3 layers but the model has 4");
  expectError([] { Allocation::parse("2-0-6-8", 32); }, "group 2 of '2-0-6-8' has 0 experts");
  expectError([] { Allocation::parse("2-4-6-8", 3); }, "has 4 groups but the model has only 3");
  expectError([] { Allocation::parse("0", 3); }, "has 0 experts");
  expectError([] { Allocation::parse("-3", 3); }, "has -3 experts");
  expectError([] { Allocation::parse("pyramid", 32); }, "unknown allocation 'pyramid'");
  expectError([] { Allocation::parse("", 32); }, "empty");
  expectError([] { Allocation::parse("4", 0); }, "at least 1 layer");
  expectError([] { Allocation::parse("100000", 2); }, "at most 1024");
  expectError([] { Allocation(std::vector<int>{3, 0}); }, "layer 2 of 2 has 0 experts");
}

TEST(Allocation, TopKMustFitEveryLayer) {
  Allocation a = Allocation::parse("2-4-6-8", 32);
  EXPECT_NO_THROW(a.checkTopK(2));
  expectError([&] { a.checkTopK(3); }, "exceeds the 2 experts of layer 1 of 32");
  expectError([&] { a.checkTopK(0); }, "top_k must be at least 1");
  expectError([] { Allocation::parse("8,8,1,8", 4).checkTopK(2); }, "layer 3 of 4");
}

TEST(ParameterCount, Llama2_7bMatchesThePaperBudget) {
  // Hand count: per expert and rank, q,k,v,o have d_in + d_out = 8192 and gate, up, down 15104, so
  // 4 * 8192 + 3 * 15104 = 78080; routers have d_in 4096 (six modules) or 11008 (down): 35584.
  const ModelShape shape = *ModelShape::named("llama2-7b");
  const auto all = parseTargetModules("all");
  for (const char* spec : {"2-4-6-8", "5-5-5-5", "8-6-4-2", "8-2-2-8", "2-8-8-2"}) {
    const ParameterCount c = countTrainableParameters(Allocation::parse(spec, 32), shape, 8, all);
    EXPECT_EQ(c.lora, 78080LL * 8 * 160) << spec;
    EXPECT_EQ(c.router, 35584LL * 160) << spec;
    EXPECT_EQ(c.total(), 105635840) << spec;
  }
  const ParameterCount lora64 =
      countTrainableParameters(Allocation::uniform(1, 32), shape, 64, all);
  EXPECT_EQ(lora64.router, 0) << "plain LoRA has no router";
  EXPECT_EQ(lora64.total(), 159907840);
  const ParameterCount c8888 =
      countTrainableParameters(Allocation::parse("8-8-8-8", 32), shape, 8, all);
  EXPECT_EQ(c8888.total(), 78080LL * 8 * 256 + 35584LL * 256);
  // q and v only, r=8, one expert: 32 layers * 8 * (8192 + 8192)
  EXPECT_EQ(
      countTrainableParameters(Allocation::uniform(1, 32), shape, 8, parseTargetModules("q_proj,v"))
          .total(),
      32LL * 8 * 16384);
}

TEST(ParameterCount, BaseModelSizes) {
  // LLaMA-2-7B has 6,738,415,616 parameters (untied embeddings).
  EXPECT_EQ(countBaseParameters(*ModelShape::named("llama2-7b")), 6738415616LL);
  // stories260K: 5 layers of 45,440 (incl. norms), embeddings 512 x 64, final norm 64.
  EXPECT_EQ(countBaseParameters(*ModelShape::named("stories260k")), 260032);
}

TEST(ParameterCount, LayerCountMustMatchTheModel) {
  expectError(
      [] {
        countTrainableParameters(Allocation::uniform(2, 4), *ModelShape::named("llama2-7b"), 8,
                                 parseTargetModules("all"));
      },
      "the allocation has 4 layers but the model has 32");
}

TEST(ModelShape, GroupedQueryAttentionDims) {
  const ModelShape s = *ModelShape::named("stories260k");
  EXPECT_EQ(s.dims(TargetModule::KProj).out_features, 32);  // 4 kv heads x 8
  EXPECT_EQ(s.dims(TargetModule::QProj).out_features, 64);
  EXPECT_EQ(s.dims(TargetModule::DownProj).in_features, 172);
}

TEST(TargetModules, ParseAndJoin) {
  EXPECT_EQ(joinTargetModules(parseTargetModules("q,v_proj, down")), "q_proj,v_proj,down_proj");
  EXPECT_EQ(parseTargetModules("all").size(), 7u);
  expectError([] { parseTargetModules("q,q_proj"); }, "listed twice");
  expectError([] { parseTargetModules("q,attn"); }, "unknown target module 'attn'");
}

TEST(TargetModules, AlwaysInOneOrder) {
  EXPECT_EQ(joinTargetModules(parseTargetModules("down,v,q")), "q_proj,v_proj,down_proj");
  std::vector<TargetModule> m = {TargetModule::UpProj, TargetModule::KProj, TargetModule::QProj};
  sortTargetModules(m);
  EXPECT_EQ(m, (std::vector<TargetModule>{TargetModule::QProj, TargetModule::KProj,
                                          TargetModule::UpProj}));
}

TEST(AdaptersFit, RefusesARankAboveAProjectionAndAdaptersBeyondMemory) {
  const ModelShape llama = *ModelShape::named("llama2-7b");
  const Allocation paper = Allocation::parse("2-4-6-8", 32);
  const std::vector<TargetModule> all(std::begin(kAllTargetModules), std::end(kAllTargetModules));
  // The paper's setting: 105.6 M parameters, 1.69 GB with gradients and AdamW state.
  checkAdaptersFit(paper, llama, 8, all, 24e9);
  expectError([&] { checkAdaptersFit(paper, llama, 8, all, 1.6e9); },
              "adapter.rank 8 with adapter.allocation " + paper.describe() + ": ");
  expectError([&] { checkAdaptersFit(paper, llama, 8, all, 1.6e9); },
              "the adapters would have 1.06e+08 parameters, 1.69 GB with their gradients and "
              "AdamW state, more than the 1.6 GB of memory here");
  // Rank 4096 is still allowed by the shape (the smallest side is 4096) but not by 24 GB.
  expectError([&] { checkAdaptersFit(paper, llama, 4096, all, 24e9); }, "more than the 24 GB");
  expectError([&] { checkAdaptersFit(paper, llama, 100000000, all, 24e9); },
              "adapter.rank 100000000 is larger than the smaller side of q_proj (4096)");
  // Plain LoRA on the small k/v projections of a grouped-query model.
  const ModelShape gqa = *ModelShape::named("stories260k");
  expectError(
      [&] { checkAdaptersFit(Allocation::uniform(1, 5), gqa, 40, {TargetModule::KProj}, 24e9); },
      "larger than the smaller side of k_proj (32)");
}

}  // namespace
}  // namespace mola
