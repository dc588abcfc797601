// Chat templates: turning OpenAI-style messages into the prompt text a model was trained
// on. Built in (no Jinja engine): DeepSeek-R1/V3, Qwen2 ChatML (R1-Distill-Qwen) and
// Llama-3 (R1-Distill-Llama), recognised from the GGUF's `tokenizer.chat_template` or
// chosen by name (--chat-template). An unrecognised template is an error, not a guess.
#pragma once

#include "base/status.h"
#include "gguf/gguf.h"

#include <memory>
#include <string>
#include <vector>

namespace deepcpu {

struct ChatMessage {
  std::string role;     // "system", "user", "assistant" (also "developer" = system, "tool")
  std::string content;
};

class ChatTemplate {
 public:
  // `name` empty: detect from tokenizer.chat_template; else one of names().
  static Result<std::unique_ptr<ChatTemplate>> create(const gguf::Model& model, const std::string& name);
  static std::vector<std::string> names();  // "deepseek-r1", "deepseek-v3", "chatml", "llama3"
  // The pieces create() is made of, for callers without a GGUF (tests, tools).
  // `bos_text` is what the template's {{bos_token}} prints; "" means the family's usual one.
  // detect(): the family from a template's text, with the details that vary inside a
  // family (DeepSeek system-prompt joining and <think> handling, ChatML's default system
  // prompt) read from the text. from_name(): the canonical template of that name.
  static Result<std::unique_ptr<ChatTemplate>> detect(const std::string& template_text, const std::string& bos_text = "");
  static Result<std::unique_ptr<ChatTemplate>> from_name(const std::string& name, const std::string& bos_text = "");
  virtual ~ChatTemplate() = default;

  virtual std::string name() const = 0;
  // The prompt text; special tokens appear as their text (parse them when tokenizing).
  // Includes the BOS text when the model's template writes it.
  virtual std::string apply(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const = 0;
  // True when the generation prompt already opens a reasoning block (R1: "<think>\n"),
  // so the model's output starts inside the thinking.
  virtual bool generation_starts_in_reasoning() const = 0;
};

}  // namespace deepcpu
