// SPDX-License-Identifier: GPL-3.0-or-later
// Token routing: the trace against the router's equations written out for layer 1, against the
// router statistics (mola::router_sums) of the same tokens, and against the per-expert loop path;
// the pooled tables, JSON and text tables against values written by hand; errors named.
#include "eval/token_routing.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

#include <algorithm>
#include <string>
#include <vector>

#include "adapters/balance_loss.h"
#include "eval/token_routing_trace.h"
#include "expect_error.h"
#include "model/llama_model.h"
#include "model/tokenizer.h"

namespace mola {
namespace {

LlamaConfig smallConfig(int vocab) {
  LlamaConfig c;
  c.vocab_size = vocab;
  c.d_model = 16;
  c.ffn_dim = 24;
  c.num_layers = 4;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = 4;
  c.max_seq_len = 24;
  return c;
}

// fp64, MoLA 2-4-6-8 top-2 (dropout off), random non-zero B so that the layers above see the
// experts' outputs; routers drawn wide so that the routing is far from uniform.
LlamaModel molaModel(ExpertImpl impl, int vocab) {
  torch::manual_seed(11);
  LlamaModel model(smallConfig(vocab));
  MolaSpec spec;
  spec.allocation = Allocation::parse("2-4-6-8", 4);
  spec.rank = 2;
  spec.top_k = 2;
  spec.dropout = 0.0;
  spec.impl = impl;
  model->injectMola(spec);
  model->to(at::kDouble);
  torch::NoGradGuard no_grad;
  for (auto& p : model->named_parameters()) {
    if (p.key().find("lora_B") != std::string::npos) p.value().normal_(0.0, 0.3);
    if (p.key().find("router") != std::string::npos) p.value().normal_(0.0, 1.0);
  }
  model->eval();
  return model;
}

const ModuleTokenRouting& moduleOf(const LayerTokenRouting& layer, const std::string& name) {
  for (const ModuleTokenRouting& m : layer.modules)
    if (m.module == name) return m;
  throw std::runtime_error("no module " + name);
}

TEST(TokenRouting, LayerOneFollowsTheRouterEquations) {
  const auto tokenizer = Tokenizer::bytes();
  LlamaModel model = molaModel(ExpertImpl::Stacked, tokenizer->vocabSize());
  const std::vector<int> ids = tokenizer->encode("mixture", true, false);
  const TokenRouting r = traceTokenRouting(model, *tokenizer, ids);
  ASSERT_EQ(r.ids, ids);
  ASSERT_EQ(r.layers.size(), 4u);
  EXPECT_EQ(r.layers[0].layer, 0);
  EXPECT_EQ(r.layers[3].experts, 8);
  ASSERT_EQ(r.layers[0].modules.size(), 7u);  // every target module routes

  // q, k and v of layer 1 read rms_norm(embedding) * attn_norm: their router's softmax, and the
  // two largest probabilities renormalised as the gates.
  const LlamaConfig& c = model->config();
  for (const std::string name : {"q_proj", "k_proj", "v_proj"}) {
    const TargetModule m = name == "q_proj"   ? TargetModule::QProj
                           : name == "k_proj" ? TargetModule::KProj
                                              : TargetModule::VProj;
    const at::Tensor router = model->layer(0)->projection(m)->router;  // [2, d]
    const ModuleTokenRouting& traced = moduleOf(r.layers[0], name);
    for (size_t t = 0; t < ids.size(); ++t) {
      const at::Tensor e = model->embed[int64_t(ids[t])];
      const double rms = std::sqrt(e.pow(2).mean().item<double>() + c.rms_eps);
      const at::Tensor x = e / rms * model->layer(0)->attn_norm;
      const double l0 = (router[0] * x).sum().item<double>();
      const double l1 = (router[1] * x).sum().item<double>();
      const double p0 = 1.0 / (1.0 + std::exp(l1 - l0));
      EXPECT_NEAR(traced.probability[t][0], p0, 1e-12) << name << " token " << t;
      EXPECT_NEAR(traced.probability[t][1], 1.0 - p0, 1e-12) << name << " token " << t;
      // Top-2 of 2 experts: both kept, the gates are the probabilities.
      EXPECT_NEAR(traced.gate[t][0], p0, 1e-12);
      EXPECT_NEAR(traced.gate[t][1], 1.0 - p0, 1e-12);
    }
  }
}

TEST(TokenRouting, GatesAreTheTopKProbabilitiesRenormalised) {
  const auto tokenizer = Tokenizer::bytes();
  LlamaModel model = molaModel(ExpertImpl::Stacked, tokenizer->vocabSize());
  const TokenRouting r =
      traceTokenRouting(model, *tokenizer, tokenizer->encode("higher layers", true, false));
  int routed_rows = 0;
  for (const LayerTokenRouting& l : r.layers)
    for (const ModuleTokenRouting& m : l.modules)
      for (size_t t = 0; t < r.ids.size(); ++t) {
        std::vector<int> order(size_t(l.experts));
        for (int e = 0; e < l.experts; ++e) order[size_t(e)] = e;
        std::sort(order.begin(), order.end(), [&](int a, int b) {
          return m.probability[t][size_t(a)] > m.probability[t][size_t(b)];
        });
        const double kept = m.probability[t][size_t(order[0])] + m.probability[t][size_t(order[1])];
        for (int rank = 0; rank < l.experts; ++rank) {
          const size_t e = size_t(order[size_t(rank)]);
          const double want = rank < 2 ? m.probability[t][e] / kept : 0.0;
          EXPECT_NEAR(m.gate[t][e], want, 1e-12) << "layer " << l.layer << " " << m.module;
        }
        ++routed_rows;
      }
  EXPECT_EQ(routed_rows, 4 * 7 * 14);
}

// The pooled tables averaged over the tokens are the router statistics that training records
// (mola::router_sums over the same forward pass).
TEST(TokenRouting, PooledTablesAverageToTheRouterStatistics) {
  const auto tokenizer = Tokenizer::bytes();
  LlamaModel model = molaModel(ExpertImpl::Stacked, tokenizer->vocabSize());
  const std::vector<int> ids = tokenizer->encode("experts per layer", true, false);
  const TokenRouting r = traceTokenRouting(model, *tokenizer, ids);

  const std::vector<int> per_layer = model->molaSpec().allocation.perLayer();
  RouterStatsAccumulator stats(per_layer);
  {
    torch::NoGradGuard no_grad;
    std::vector<int64_t> ids64(ids.begin(), ids.end());
    model->forward(at::tensor(ids64, at::kLong).view({1, -1}));
    stats.add(routingSums(model->layerRoutings(), {}, per_layer));
    model->clearRoutings();
  }
  const RouterStatsSnapshot snap = stats.snapshot(0);
  ASSERT_EQ(snap.layers.size(), r.layers.size());
  for (size_t j = 0; j < r.layers.size(); ++j) {
    const TokenExpertTable selection = pooledTable(r.layers[j], RoutingQuantity::Selection);
    const TokenExpertTable probability = pooledTable(r.layers[j], RoutingQuantity::Probability);
    const TokenExpertTable gate = pooledTable(r.layers[j], RoutingQuantity::Gate);
    for (int e = 0; e < r.layers[j].experts; ++e) {
      double f = 0, p = 0;
      for (size_t t = 0; t < ids.size(); ++t) {
        f += selection[t][size_t(e)] / double(ids.size());
        p += probability[t][size_t(e)] / double(ids.size());
      }
      EXPECT_NEAR(f, snap.layers[j].token_fraction[size_t(e)], 1e-9) << "layer " << j;
      EXPECT_NEAR(p, snap.layers[j].mean_probability[size_t(e)], 1e-9) << "layer " << j;
    }
    for (size_t t = 0; t < ids.size(); ++t) {
      double gates = 0, selections = 0;
      for (int e = 0; e < r.layers[j].experts; ++e) {
        gates += gate[t][size_t(e)];
        selections += selection[t][size_t(e)];
      }
      EXPECT_NEAR(gates, 1.0, 1e-12);
      EXPECT_NEAR(selections, 1.0, 1e-12);
    }
  }
}

TEST(TokenRouting, TheLoopPathTracesTheSameRouting) {
  const auto tokenizer = Tokenizer::bytes();
  LlamaModel fused = molaModel(ExpertImpl::Stacked, tokenizer->vocabSize());
  LlamaModel loop = molaModel(ExpertImpl::Loop, tokenizer->vocabSize());
  const std::vector<int> ids = tokenizer->encode("route me", true, false);
  const TokenRouting a = traceTokenRouting(fused, *tokenizer, ids);
  const TokenRouting b = traceTokenRouting(loop, *tokenizer, ids);
  ASSERT_EQ(a.layers.size(), b.layers.size());
  for (size_t j = 0; j < a.layers.size(); ++j)
    for (size_t m = 0; m < a.layers[j].modules.size(); ++m)
      for (size_t t = 0; t < ids.size(); ++t)
        for (int e = 0; e < a.layers[j].experts; ++e) {
          EXPECT_NEAR(a.layers[j].modules[m].gate[t][size_t(e)],
                      b.layers[j].modules[m].gate[t][size_t(e)], 1e-10);
          EXPECT_NEAR(a.layers[j].modules[m].probability[t][size_t(e)],
                      b.layers[j].modules[m].probability[t][size_t(e)], 1e-10);
        }
}

TEST(TokenRouting, ModelsWithoutATokenRouterAndTextsThatDoNotFitAreNamed) {
  const auto tokenizer = Tokenizer::bytes();
  LlamaModel base(smallConfig(tokenizer->vocabSize()));
  const std::vector<int> ids = tokenizer->encode("a", true, false);
  test::expectErrorContaining<std::invalid_argument>(
      [&] { traceTokenRouting(base, *tokenizer, ids); }, "no router to trace");
  LlamaModel lora(smallConfig(tokenizer->vocabSize()));
  MolaSpec plain;
  plain.allocation = Allocation::uniform(1, 4);
  plain.top_k = 1;
  lora->injectMola(plain);
  test::expectErrorContaining<std::invalid_argument>(
      [&] { traceTokenRouting(lora, *tokenizer, ids); }, "no router to trace");
  LlamaModel moelora(smallConfig(tokenizer->vocabSize()));
  MolaSpec gated;
  gated.allocation = Allocation::uniform(2, 4);
  gated.task_gated = true;
  gated.tasks = {"a", "b"};
  moelora->injectMola(gated);
  test::expectErrorContaining<std::invalid_argument>(
      [&] { traceTokenRouting(moelora, *tokenizer, ids); }, "reads the task, not the token");
  LlamaModel mola = molaModel(ExpertImpl::Stacked, tokenizer->vocabSize());
  test::expectErrorContaining<std::invalid_argument>(
      [&] {
        traceTokenRouting(mola, *tokenizer, tokenizer->encode(std::string(30, 'x'), true, false));
      },
      "the text is 31 tokens; the model takes 1 to 24");
  test::expectErrorContaining<std::invalid_argument>(
      [&] { traceTokenRouting(mola, *tokenizer, {}); }, "the text is 0 tokens");
}

// Two tokens, one layer of 3 experts (top-2), two modules, values chosen by hand.
TokenRouting handRouting() {
  TokenRouting r;
  r.ids = {1, 66};
  r.tokens = {"<s>", "B\n"};
  LayerTokenRouting l;
  l.layer = 2;
  l.experts = 3;
  l.top_k = 2;
  l.modules.push_back(
      {"q_proj", {{0.5, 0.3, 0.2}, {0.1, 0.6, 0.3}}, {{0.625, 0.375, 0}, {0, 2.0 / 3, 1.0 / 3}}});
  l.modules.push_back({"down_proj",
                       {{0.2, 0.2, 0.6}, {0.7, 0.2, 0.1}},
                       {{0.25, 0, 0.75}, {0.7 / 0.9, 0.2 / 0.9, 0}}});
  r.layers.push_back(l);
  return r;
}

TEST(TokenRouting, PooledTablesAverageTheModules) {
  const LayerTokenRouting l = handRouting().layers[0];
  const TokenExpertTable gate = pooledTable(l, RoutingQuantity::Gate);
  EXPECT_DOUBLE_EQ(gate[0][0], (0.625 + 0.25) / 2);
  EXPECT_DOUBLE_EQ(gate[0][2], 0.75 / 2);
  const TokenExpertTable selection = pooledTable(l, RoutingQuantity::Selection);
  EXPECT_EQ(selection[0], (std::vector<double>{0.5, 0.25, 0.25}));
  EXPECT_EQ(selection[1], (std::vector<double>{0.25, 0.5, 0.25}));
  const TokenExpertTable probability = pooledTable(l, RoutingQuantity::Probability, "down_proj");
  EXPECT_EQ(probability[1], (std::vector<double>{0.7, 0.2, 0.1}));
  test::expectErrorContaining<std::invalid_argument>(
      [&] { pooledTable(l, RoutingQuantity::Gate, "o_proj"); },
      "layer 3 routes no module 'o_proj' (it routes q_proj, down_proj)");
  EXPECT_EQ(dominantExpert({0.2, 0.5, 0.5}), 1);
  EXPECT_EQ(dominantExpert({}), -1);
}

TEST(TokenRouting, TablesAsMolaRoutePrintsThem) {
  const TokenRouting r = handRouting();
  // Token 0: pooled gates (0.4375, 0.1875, 0.375) -> expert 1; token 1: (0.389, 0.444, 0.167)
  // -> expert 2; q_proj alone: 1 and 2.
  EXPECT_EQ(tokenRoutingTable(r),
            "token     L3\n"
            "'<s>'      1\n"
            "'B\\x0A'    2\n");
  EXPECT_EQ(tokenRoutingTable(r, "down_proj"),
            "token     L3\n"
            "'<s>'      3\n"
            "'B\\x0A'    1\n");
  EXPECT_EQ(layerRoutingTable(r, 2, RoutingQuantity::Probability, "q_proj"),
            "token      e1    e2    e3\n"
            "'<s>'    0.50  0.30  0.20\n"
            "'B\\x0A'  0.10  0.60  0.30\n");
  test::expectErrorContaining<std::invalid_argument>(
      [&] { layerRoutingTable(r, 0, RoutingQuantity::Gate); }, "layer 1 has no router");
}

TEST(TokenRouting, JsonRoundTripsAndDamageIsNamed) {
  const TokenRouting r = handRouting();
  const std::string json = tokenRoutingToJson(r);
  const TokenRouting back = tokenRoutingFromJson(json, "trace.json");
  EXPECT_EQ(back.ids, r.ids);
  EXPECT_EQ(back.tokens, r.tokens);
  ASSERT_EQ(back.layers.size(), 1u);
  EXPECT_EQ(back.layers[0].layer, 2);
  EXPECT_EQ(back.layers[0].top_k, 2);
  EXPECT_EQ(back.layers[0].modules[1].module, "down_proj");
  EXPECT_EQ(back.layers[0].modules[1].gate, r.layers[0].modules[1].gate);
  EXPECT_EQ(back.layers[0].modules[0].probability, r.layers[0].modules[0].probability);

  test::expectErrorContaining<std::runtime_error>(
      [&] { tokenRoutingFromJson("{ not json", "trace.json"); },
      "trace.json: not a token routing document");
  std::string short_row = json;
  short_row.replace(short_row.find("[0.5,0.3,0.2]"), 13, "[0.5,0.3]");
  test::expectErrorContaining<std::runtime_error>(
      [&] { tokenRoutingFromJson(short_row, "trace.json"); },
      "trace.json: layer 3 q_proj probability: a row of 2 values for 3 experts");
  TokenRouting no_modules = r;
  no_modules.layers[0].modules.clear();
  test::expectErrorContaining<std::runtime_error>(
      [&] { tokenRoutingFromJson(tokenRoutingToJson(no_modules), "trace.json"); },
      "trace.json: layer 3 routes no module");
  std::string bad_k = json;
  bad_k.replace(bad_k.find("\"top_k\":2"), 9, "\"top_k\":4");
  test::expectErrorContaining<std::runtime_error>(
      [&] { tokenRoutingFromJson(bad_k, "trace.json"); }, "layer 3: 3 experts, top-K 4");
}

TEST(TokenRouting, TokenPiecesAreWhatEachTokenAdds) {
  const auto tokenizer = Tokenizer::bytes();
  const std::vector<int> ids = tokenizer->encode("ab", true, false);
  EXPECT_EQ(tokenPieces(*tokenizer, ids), (std::vector<std::string>{"<s>", "a", "b"}));
}

}  // namespace
}  // namespace mola
