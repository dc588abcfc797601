// Built-in chat templates: exact prompts for multi-turn conversations, worked out by hand
// from each family's Jinja template (the line that writes each piece is noted), detection
// from the real template strings in the fixtures, and the errors.
#include <gtest/gtest.h>

#include "chat/chat_template.h"
#include "gguf/gguf.h"
#include "test_util.h"

namespace deepcpu::test {
namespace {

const std::string kBos = "<｜begin▁of▁sentence｜>";
const std::string kEos = "<｜end▁of▁sentence｜>";

std::unique_ptr<ChatTemplate> by_name(const std::string& name) {
  Result<std::unique_ptr<ChatTemplate>> t = ChatTemplate::from_name(name);
  EXPECT_TRUE(t.is_ok()) << t.status().message();
  return t.is_ok() ? std::move(t.value()) : nullptr;
}

std::unique_ptr<ChatTemplate> from_fixture(const std::string& rel, std::string* skip) {
  const std::string path = fixture(rel);
  if (path.empty()) {
    *skip = rel + " not found";
    return nullptr;
  }
  Result<std::unique_ptr<gguf::Model>> model = gguf::Model::open(path);
  EXPECT_TRUE(model.is_ok()) << model.status().message();
  if (!model.is_ok()) return nullptr;
  Result<std::unique_ptr<ChatTemplate>> t = ChatTemplate::create(**model, "");
  EXPECT_TRUE(t.is_ok()) << t.status().message();
  return t.is_ok() ? std::move(t.value()) : nullptr;
}

// A conversation with an R1-style answer in the history.
const std::vector<ChatMessage> kWithSystem = {
    {"system", "You are terse."},
    {"user", "Hi"},
    {"assistant", "<think>\nA greeting.\n</think>\n\nHello!"},
    {"user", "2+2?"},
};
const std::vector<ChatMessage> kNoSystem = {
    {"user", "Hi"},
    {"assistant", "Hello!"},
    {"user", "Bye"},
};

// --- DeepSeek-R1 (R1-Distill template, as in the tiny models) --------------------------

// {{bos_token}}{{ns.system_prompt}} first; '<｜User｜>' + content;
// '<｜Assistant｜>' + content.split('</think>')[-1] + '<｜end▁of▁sentence｜>' (the text after
// </think> keeps its "\n\n"); generation prompt '<｜Assistant｜><think>\n'. All tags use
// {%- -%}, so no whitespace appears between pieces.
const std::string kR1WithSystem = kBos + "You are terse.<｜User｜>Hi<｜Assistant｜>\n\nHello!" + kEos +
                                  "<｜User｜>2+2?<｜Assistant｜><think>\n";
const std::string kR1NoSystem =
    kBos + "<｜User｜>Hi<｜Assistant｜>Hello!" + kEos + "<｜User｜>Bye<｜Assistant｜><think>\n";

TEST(ChatTemplate, DeepSeekR1ByName) {
  auto t = by_name("deepseek-r1");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->name(), "deepseek-r1");
  EXPECT_TRUE(t->generation_starts_in_reasoning());
  EXPECT_EQ(t->apply(kWithSystem, true), kR1WithSystem);
  EXPECT_EQ(t->apply(kNoSystem, true), kR1NoSystem);
  // {%- if add_generation_prompt and not ns.is_tool -%}: nothing after the last turn.
  EXPECT_EQ(t->apply(kNoSystem, false), kBos + "<｜User｜>Hi<｜Assistant｜>Hello!" + kEos + "<｜User｜>Bye");
}

TEST(ChatTemplate, DeepSeekR1SystemPlacement) {
  auto t = by_name("deepseek-r1");
  ASSERT_TRUE(t);
  // The first loop sets ns.system_prompt = message['content'] for every system message:
  // the last one wins, and it goes right after BOS wherever it stood; "developer" is system.
  const std::vector<ChatMessage> msgs = {
      {"system", "one"}, {"user", "u1"}, {"developer", "two"}, {"user", "u2"}};
  EXPECT_EQ(t->apply(msgs, true), kBos + "two<｜User｜>u1<｜User｜>u2<｜Assistant｜><think>\n");
  // An assistant turn with several </think>: split('</think>')[-1] keeps the last part.
  EXPECT_EQ(t->apply({{"user", "q"}, {"assistant", "a</think>b</think> c"}}, false),
            kBos + "<｜User｜>q<｜Assistant｜> c" + kEos);
}

TEST(ChatTemplate, DeepSeekToolOutputs) {
  auto t = by_name("deepseek-r1");
  ASSERT_TRUE(t);
  // role 'tool': first '<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>' + content + '<｜tool▁output▁end｜>',
  // later ones '\n<｜tool▁output▁begin｜>...'; an assistant after tools opens with
  // '<｜tool▁outputs▁end｜>'; ending on a tool: '<｜tool▁outputs▁end｜>' and no generation prompt.
  const std::vector<ChatMessage> msgs = {{"user", "q"}, {"tool", "1"}, {"tool", "2"}};
  EXPECT_EQ(t->apply(msgs, true), kBos +
                                      "<｜User｜>q<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>1<｜tool▁output▁end｜>"
                                      "\n<｜tool▁output▁begin｜>2<｜tool▁output▁end｜><｜tool▁outputs▁end｜>");
  const std::vector<ChatMessage> answered = {{"user", "q"}, {"tool", "1"}, {"assistant", "x"}};
  EXPECT_EQ(t->apply(answered, true),
            kBos + "<｜User｜>q<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>1<｜tool▁output▁end｜>"
                   "<｜tool▁outputs▁end｜>x" + kEos + "<｜Assistant｜><think>\n");
}

TEST(ChatTemplate, DeepSeekR1FromTinyModel) {
  std::string skip;
  auto t = from_fixture("models/ds3-tiny-Q8_0.gguf", &skip);
  if (!skip.empty()) GTEST_SKIP() << skip;
  ASSERT_TRUE(t);
  EXPECT_EQ(t->name(), "deepseek-r1");
  EXPECT_TRUE(t->generation_starts_in_reasoning());
  EXPECT_EQ(t->apply(kWithSystem, true), kR1WithSystem);
  EXPECT_EQ(t->apply(kNoSystem, true), kR1NoSystem);
}

TEST(ChatTemplate, DetectionIsByTemplateTextNotArchitecture) {
  // qwen2-tiny and llama-tiny carry the R1 template too.
  for (const char* rel : {"models/qwen2-tiny-Q8_0.gguf", "models/llama-tiny-Q8_0.gguf"}) {
    std::string skip;
    auto t = from_fixture(rel, &skip);
    if (!skip.empty()) continue;
    ASSERT_TRUE(t) << rel;
    EXPECT_EQ(t->name(), "deepseek-r1") << rel;
    EXPECT_EQ(t->apply(kNoSystem, true), kR1NoSystem) << rel;  // their BOS text is DeepSeek's too
  }
}

// --- DeepSeek-V3 ----------------------------------------------------------------------

// Same layout, but system messages are joined (ns.system_prompt + '\n\n' + content), the
// assistant content is written whole ('<｜Assistant｜>' + message['content'] + ...) and the
// generation prompt is '<｜Assistant｜>' alone.
const std::string kV3WithSystem = kBos + "You are terse.<｜User｜>Hi<｜Assistant｜><think>\nA greeting.\n</think>\n\nHello!" +
                                  kEos + "<｜User｜>2+2?<｜Assistant｜>";
const std::string kV3NoSystem = kBos + "<｜User｜>Hi<｜Assistant｜>Hello!" + kEos + "<｜User｜>Bye<｜Assistant｜>";

TEST(ChatTemplate, DeepSeekV3ByName) {
  auto t = by_name("deepseek-v3");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->name(), "deepseek-v3");
  EXPECT_FALSE(t->generation_starts_in_reasoning());
  EXPECT_EQ(t->apply(kWithSystem, true), kV3WithSystem);
  EXPECT_EQ(t->apply(kNoSystem, true), kV3NoSystem);
  const std::vector<ChatMessage> two_systems = {{"system", "one"}, {"user", "u"}, {"system", "two"}};
  EXPECT_EQ(t->apply(two_systems, false), kBos + "one\n\ntwo<｜User｜>u");
}

TEST(ChatTemplate, DeepSeekV3FromVocab) {
  std::string skip;
  auto t = from_fixture("tokenizer/ggml-vocab-deepseek-v3.gguf", &skip);
  if (!skip.empty()) GTEST_SKIP() << skip;
  ASSERT_TRUE(t);
  EXPECT_EQ(t->name(), "deepseek-v3");
  EXPECT_FALSE(t->generation_starts_in_reasoning());
  EXPECT_EQ(t->apply(kWithSystem, true), kV3WithSystem);
  EXPECT_EQ(t->apply(kNoSystem, true), kV3NoSystem);
  const std::vector<ChatMessage> two_systems = {{"system", "one"}, {"user", "u"}, {"system", "two"}};
  EXPECT_EQ(t->apply(two_systems, false), kBos + "one\n\ntwo<｜User｜>u");
}

// --- ChatML (Qwen2) -------------------------------------------------------------------

// {% if loop.first and messages[0]['role'] != 'system' %} writes the default system turn;
// every message is '<|im_start|>' + role + '\n' + content + '<|im_end|>' + '\n';
// generation prompt '<|im_start|>assistant\n'. No BOS.
TEST(ChatTemplate, ChatMlByName) {
  auto t = by_name("chatml");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->name(), "chatml");
  EXPECT_FALSE(t->generation_starts_in_reasoning());
  EXPECT_EQ(t->apply(kNoSystem, true),
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n"
            "<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n");
  // A system message first: no default; the assistant text is written whole.
  EXPECT_EQ(t->apply(kWithSystem, false),
            "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\n<think>\nA greeting.\n</think>\n\nHello!<|im_end|>\n"
            "<|im_start|>user\n2+2?<|im_end|>\n");
  EXPECT_EQ(t->apply({}, true), "<|im_start|>assistant\n");  // the loop never runs
}

TEST(ChatTemplate, ChatMlFromQwenVocab) {
  std::string skip;
  auto t = from_fixture("tokenizer/ggml-vocab-qwen2.gguf", &skip);
  if (!skip.empty()) GTEST_SKIP() << skip;
  ASSERT_TRUE(t);
  EXPECT_EQ(t->name(), "chatml");
  // This vocab's template (Qwen1.5 era) says "You are a helpful assistant" with no period;
  // the default is read from the template text.
  EXPECT_EQ(t->apply({{"user", "Hi"}}, true),
            "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n"
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
}

TEST(ChatTemplate, ChatMlDefaultSystemFromText) {
  // Qwen2.5 writes '\n' as an escape inside the Jinja string and has its own default.
  const std::string qwen25 =
      "{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + messages[0]['content'] + "
      "'<|im_end|>\\n' }}{%- else %}{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a "
      "helpful assistant.<|im_end|>\\n' }}{%- endif %}";
  auto t = ChatTemplate::detect(qwen25);
  ASSERT_TRUE(t.is_ok()) << t.status().message();
  EXPECT_EQ((*t)->apply({{"user", "Hi"}}, false),
            "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
            "<|im_start|>user\nHi<|im_end|>\n");
  // Plain ChatML with no default system turn.
  auto plain = ChatTemplate::detect(
      "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
      "'<|im_end|>' + '\\n'}}{% endfor %}");
  ASSERT_TRUE(plain.is_ok()) << plain.status().message();
  EXPECT_EQ((*plain)->apply({{"user", "Hi"}}, true), "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
}

// --- Llama-3 --------------------------------------------------------------------------

// Meta-Llama-3-8B-Instruct tokenizer_config.json (no fixture carries it).
const std::string kLlama3Jinja =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
    "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + "
    "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}"
    "{% endif %}";

// bos_token only before the first message (loop.index0 == 0); each message is
// '<|start_header_id|>' + role + '<|end_header_id|>\n\n' + (content | trim) + '<|eot_id|>'.
TEST(ChatTemplate, Llama3) {
  auto named = by_name("llama3");
  ASSERT_TRUE(named);
  auto detected = ChatTemplate::detect(kLlama3Jinja);
  ASSERT_TRUE(detected.is_ok()) << detected.status().message();
  for (const ChatTemplate* t : {named.get(), detected->get()}) {
    EXPECT_EQ(t->name(), "llama3");
    EXPECT_FALSE(t->generation_starts_in_reasoning());
    EXPECT_EQ(t->apply(kWithSystem, true),
              "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>"
              "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
              "<|start_header_id|>assistant<|end_header_id|>\n\n<think>\nA greeting.\n</think>\n\nHello!<|eot_id|>"
              "<|start_header_id|>user<|end_header_id|>\n\n2+2?<|eot_id|>"
              "<|start_header_id|>assistant<|end_header_id|>\n\n");
    // | trim strips the content only (Python str.strip: ASCII and Unicode whitespace).
    EXPECT_EQ(t->apply({{"user", " \n Hi there\t\n"}, {"assistant", "\u00a0ok\u3000"}}, false),
              "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
              "<|start_header_id|>assistant<|end_header_id|>\n\nok<|eot_id|>");
    EXPECT_EQ(t->apply({}, true), "<|start_header_id|>assistant<|end_header_id|>\n\n");  // no BOS without messages
  }
}

// --- Selection and errors -------------------------------------------------------------

TEST(ChatTemplate, NameOverridesDetection) {
  const std::string path = fixture("models/ds3-tiny-Q8_0.gguf");
  if (path.empty()) GTEST_SKIP() << "models/ds3-tiny-Q8_0.gguf not found";
  auto model = gguf::Model::open(path);
  ASSERT_TRUE(model.is_ok()) << model.status().message();
  auto t = ChatTemplate::create(**model, "chatml");
  ASSERT_TRUE(t.is_ok()) << t.status().message();
  EXPECT_EQ((*t)->name(), "chatml");
  auto v3 = ChatTemplate::create(**model, "deepseek-v3");
  ASSERT_TRUE(v3.is_ok()) << v3.status().message();
  EXPECT_EQ((*v3)->apply(kNoSystem, true), kV3NoSystem);
  EXPECT_EQ(ChatTemplate::names(), (std::vector<std::string>{"deepseek-r1", "deepseek-v3", "chatml", "llama3"}));
  for (const std::string& name : ChatTemplate::names()) {
    auto n = ChatTemplate::create(**model, name);
    ASSERT_TRUE(n.is_ok()) << name;
    EXPECT_EQ((*n)->name(), name);
  }
}

TEST(ChatTemplate, UnknownNameIsAnError) {
  auto t = ChatTemplate::from_name("vicuna");
  ASSERT_FALSE(t.is_ok());
  EXPECT_NE(t.status().message().find("'vicuna'"), std::string::npos) << t.status().message();
  EXPECT_NE(t.status().message().find("deepseek-r1, deepseek-v3, chatml, llama3"), std::string::npos)
      << t.status().message();
}

TEST(ChatTemplate, UnknownTemplateIsAnError) {
  auto t = ChatTemplate::detect("{% for m in messages %}[INST] {{ m['content'] }} [/INST]{% endfor %}");
  ASSERT_FALSE(t.is_ok());
  const std::string msg = t.status().message();
  EXPECT_NE(msg.find("[INST]"), std::string::npos) << msg;  // shows what it found
  EXPECT_NE(msg.find("--chat-template"), std::string::npos) << msg;
  EXPECT_NE(msg.find("deepseek-r1, deepseek-v3, chatml, llama3"), std::string::npos) << msg;
}

TEST(ChatTemplate, NoTemplateKeyIsAnError) {
  const std::string path = fixture("models/stories260K.gguf");
  if (path.empty()) GTEST_SKIP() << "models/stories260K.gguf not found";
  auto model = gguf::Model::open(path);
  ASSERT_TRUE(model.is_ok()) << model.status().message();
  auto t = ChatTemplate::create(**model, "");
  ASSERT_FALSE(t.is_ok());
  const std::string msg = t.status().message();
  EXPECT_NE(msg.find("stories260K.gguf"), std::string::npos) << msg;
  EXPECT_NE(msg.find("no tokenizer.chat_template"), std::string::npos) << msg;
  EXPECT_NE(msg.find("deepseek-r1, deepseek-v3, chatml, llama3"), std::string::npos) << msg;
  // A name still works: stories260K's BOS text "<s>" is what {{bos_token}} prints.
  auto named = ChatTemplate::create(**model, "llama3");
  ASSERT_TRUE(named.is_ok()) << named.status().message();
  EXPECT_EQ((*named)->apply({{"user", "Hi"}}, false), "<s><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>");
}

}  // namespace
}  // namespace deepcpu::test
