#include <gtest/gtest.h>

#include "gguf/gguf.h"
#include "test_util.h"

TEST(Smoke, OpensStories) {
  const std::string path = deepcpu::test::fixture("models/stories260K.gguf");
  if (path.empty()) GTEST_SKIP() << "models/stories260K.gguf not found";
  auto m = deepcpu::gguf::Model::open(path);
  ASSERT_TRUE(m.is_ok()) << m.status().message();
  EXPECT_EQ((*m)->architecture(), "llama");
  EXPECT_EQ((*m)->tensors().size(), 48u);
}
