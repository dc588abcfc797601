// weight_traffic: the bytes one generated token reads, checked against a hand count
// from ds3-tiny's tensor table (printed by make_synthetic_model.py --inspect) and,
// for a dense model, against the rule "everything but token_embd, of which one row".
#include <gtest/gtest.h>

#include "engine/weight_traffic.h"
#include "gguf/gguf.h"
#include "test_util.h"

namespace deepcpu::test {
namespace {

TEST(WeightTraffic, Ds3TinyMatchesHandCount) {
  const std::string path = fixture("models/ds3-tiny-Q8_0.gguf");
  if (path.empty()) GTEST_SKIP() << "models/ds3-tiny-Q8_0.gguf not found";
  auto file = gguf::Model::open(path);
  ASSERT_TRUE(file.is_ok()) << file.status().message();
  auto w = weight_traffic(**file);
  ASSERT_TRUE(w.is_ok()) << w.status().message();

  // From the tensor table (Q8_0: 34 bytes per 32 values):
  //   output.weight [64, 129280]                       8,791,040
  //   output_norm                                            256
  //   token_embd: one row of 64 values = 2 blocks               68
  //   blk.0 (dense): 7 x 8,704 + 6,528 + 2,176 + 3 x 256 + 128   70,528
  //   blk.1, blk.2 each: attention 44,160 + router 4,096 + exp_probs_b 64
  //     + 3 shared-expert matrices x 2,176 + ffn_norm 256        55,104
  //     + 3 x 34,816 routed-expert bytes x 4 used / 16           26,112
  //   total 8,791,040 + 256 + 68 + 70,528 + 2 x (55,104 + 26,112) = 9,024,324
  EXPECT_EQ(w->bytes_per_token(), 9'024'324u);
  EXPECT_EQ(w->n_expert, 16);
  EXPECT_EQ(w->n_expert_used, 4);
  EXPECT_EQ(w->embedding_row_bytes, 68u);
  EXPECT_EQ(w->expert_bytes, 6u * 34'816u);
  EXPECT_EQ(w->expert_bytes_per_token, 6u * 34'816u / 4u);
  EXPECT_EQ(w->total_bytes, 17'971'968u);
  EXPECT_EQ(w->total_bytes, (*file)->total_tensor_bytes());
  EXPECT_FALSE(w->tied_embeddings);
}

TEST(WeightTraffic, DenseModelReadsAllButTheEmbeddingTable) {
  const std::string path = fixture("models/llama-tiny-Q8_0.gguf");
  if (path.empty()) GTEST_SKIP() << "models/llama-tiny-Q8_0.gguf not found";
  auto file = gguf::Model::open(path);
  ASSERT_TRUE(file.is_ok()) << file.status().message();
  auto w = weight_traffic(**file);
  ASSERT_TRUE(w.is_ok()) << w.status().message();
  const gguf::TensorInfo* embd = (*file)->find_tensor("token_embd.weight");
  ASSERT_NE(embd, nullptr);
  EXPECT_EQ(w->n_expert, 0);
  EXPECT_EQ(w->expert_bytes_per_token, 0u);
  if ((*file)->find_tensor("output.weight") != nullptr) {
    const size_t row = embd->size_bytes / static_cast<size_t>(embd->n_rows());
    EXPECT_EQ(w->bytes_per_token(), (*file)->total_tensor_bytes() - embd->size_bytes + row);
  } else {  // tied: the embedding table is the output layer and is read whole
    EXPECT_EQ(w->bytes_per_token(), (*file)->total_tensor_bytes());
  }
}

}  // namespace
}  // namespace deepcpu::test
