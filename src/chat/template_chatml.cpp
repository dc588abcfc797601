// ChatML as Qwen2-Instruct's template writes it (R1-Distill-Qwen GGUFs converted with
// the Qwen template, Qwen models generally):
//   {% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}
//   {{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}
//   {{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}
//   {% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}
// No BOS text: the template has no {{bos_token}}.
#include "chat/template_families.h"

namespace deepcpu::chat_detail {
namespace {

class ChatMlTemplate final : public ChatTemplate {
 public:
  explicit ChatMlTemplate(ChatMlOptions o) : o_(std::move(o)) {}

  std::string name() const override { return "chatml"; }
  bool generation_starts_in_reasoning() const override { return false; }

  std::string apply(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const override {
    std::string out;
    for (size_t i = 0; i < messages.size(); ++i) {
      const std::string_view role = canonical_role(messages[i].role);
      if (i == 0 && role != "system" && !o_.default_system.empty()) {
        out += "<|im_start|>system\n" + o_.default_system + "<|im_end|>\n";
      }
      out += "<|im_start|>";
      out += role;
      out += "\n" + messages[i].content + "<|im_end|>\n";
    }
    if (add_generation_prompt) out += "<|im_start|>assistant\n";
    return out;
  }

 private:
  ChatMlOptions o_;
};

}  // namespace

std::unique_ptr<ChatTemplate> make_chatml_template(ChatMlOptions options) {
  return std::make_unique<ChatMlTemplate>(std::move(options));
}

}  // namespace deepcpu::chat_detail
