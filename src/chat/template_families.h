// Internal to src/chat: the built-in template families and the options that vary inside
// a family. chat_template.cpp decides which family and options a model gets; each
// template_<family>.cpp only renders.
#pragma once

#include "chat/chat_template.h"

#include <memory>
#include <string>
#include <string_view>

namespace deepcpu::chat_detail {

// "developer" is OpenAI's newer name for "system"; every family renders it as system.
std::string_view canonical_role(const std::string& role);

// DeepSeek V3 and R1 (incl. the R1-Distill models) share one layout and differ in three
// places, each visible in the Jinja text.
struct DeepSeekOptions {
  std::string bos;                    // {{bos_token}}
  bool join_system = true;            // V3: all system messages joined by "\n\n"; R1-Distill: the last one wins
  bool strip_history_think = false;   // R1: earlier assistant turns keep only the text after </think>
  bool think_generation_prompt = false;  // R1: generation prompt "<｜Assistant｜><think>\n"
};
std::unique_ptr<ChatTemplate> make_deepseek_template(DeepSeekOptions options);

struct ChatMlOptions {
  // Qwen2: a system turn with this text goes first when messages[0] is not a system
  // message. Empty: no default system turn (plain ChatML).
  std::string default_system;
};
std::unique_ptr<ChatTemplate> make_chatml_template(ChatMlOptions options);

struct Llama3Options {
  std::string bos;  // {{bos_token}}
};
std::unique_ptr<ChatTemplate> make_llama3_template(Llama3Options options);

}  // namespace deepcpu::chat_detail
