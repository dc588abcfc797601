// DeepSeek V3 / R1 prompts, rendered as their Jinja templates do for string content:
// the V3 one in ggml-vocab-deepseek-v3.gguf and llama.cpp's
// models/templates/deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja (in the tiny models).
// Tool *calls* (assistant content none) are not representable in ChatMessage; tool
// outputs are, and follow the template.
#include "chat/template_families.h"

namespace deepcpu::chat_detail {
namespace {

class DeepSeekTemplate final : public ChatTemplate {
 public:
  explicit DeepSeekTemplate(DeepSeekOptions o) : o_(std::move(o)) {}

  std::string name() const override { return o_.think_generation_prompt ? "deepseek-r1" : "deepseek-v3"; }
  bool generation_starts_in_reasoning() const override { return o_.think_generation_prompt; }

  std::string apply(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const override {
    // First loop of the template: system messages, wherever they are, go right after BOS.
    std::string system;
    bool first_system = true;
    for (const ChatMessage& m : messages) {
      if (canonical_role(m.role) != "system") continue;
      if (!o_.join_system) {
        system = m.content;  // R1-Distill: {%- set ns.system_prompt = message['content'] -%}
      } else {
        system += (first_system ? "" : "\n\n") + m.content;  // V3: ns.system_prompt + '\n\n' + ...
      }
      first_system = false;
    }
    std::string out = o_.bos + system;  // {{bos_token}}{{ns.system_prompt}}

    // Second loop. ns.is_output_first is never reset by the template, so only the very
    // first tool output of the conversation opens <｜tool▁outputs▁begin｜>; we match that.
    bool is_tool = false;
    bool is_output_first = true;
    for (const ChatMessage& m : messages) {
      const std::string_view role = canonical_role(m.role);
      if (role == "user") {
        is_tool = false;
        out += "<｜User｜>" + m.content;
      } else if (role == "assistant") {
        if (is_tool) {
          out += "<｜tool▁outputs▁end｜>" + m.content + "<｜end▁of▁sentence｜>";
          is_tool = false;
        } else {
          std::string_view content = m.content;
          // R1: {% if '</think>' in content %}{% set content = content.split('</think>')[-1] %}
          const size_t close = o_.strip_history_think ? content.rfind("</think>") : std::string_view::npos;
          if (close != std::string_view::npos) content.remove_prefix(close + 8);
          out += "<｜Assistant｜>";
          out += content;
          out += "<｜end▁of▁sentence｜>";
        }
      } else if (role == "tool") {
        is_tool = true;
        out += is_output_first ? "<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>" : "\n<｜tool▁output▁begin｜>";
        out += m.content + "<｜tool▁output▁end｜>";
        is_output_first = false;
      }
      // Any other role renders nothing, as in the template.
    }
    if (is_tool) out += "<｜tool▁outputs▁end｜>";
    if (add_generation_prompt && !is_tool) out += o_.think_generation_prompt ? "<｜Assistant｜><think>\n" : "<｜Assistant｜>";
    return out;
  }

 private:
  DeepSeekOptions o_;
};

}  // namespace

std::unique_ptr<ChatTemplate> make_deepseek_template(DeepSeekOptions options) {
  return std::make_unique<DeepSeekTemplate>(std::move(options));
}

}  // namespace deepcpu::chat_detail
