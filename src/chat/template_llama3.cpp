// Llama-3 as Meta-Llama-3-8B-Instruct's template writes it:
//   {% set loop_messages = messages %}{% for message in loop_messages %}
//   {% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'
//                    + message['content'] | trim + '<|eot_id|>' %}
//   {% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}
//   {% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}
// `| trim` binds tighter than `+`, so only the content is trimmed. Llama-3.1's template
// (date lines in the system turn, tools) is detected as this family too, as llama.cpp does.
#include "chat/template_families.h"

namespace deepcpu::chat_detail {
namespace {

// Jinja's trim is Python's str.strip(): ASCII whitespace including \x1c-\x1f, and the
// Unicode White_Space characters (checked here as UTF-8).
size_t whitespace_len(std::string_view s, size_t i) {
  const unsigned char c = s[i];
  if (c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f)) return 1;
  static constexpr std::string_view kUnicodeSpaces[] = {
      "\u0085", "\u00a0", "\u1680", "\u2000", "\u2001", "\u2002", "\u2003", "\u2004", "\u2005",
      "\u2006", "\u2007", "\u2008", "\u2009", "\u200a", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000"};
  for (std::string_view sp : kUnicodeSpaces) {
    if (s.substr(i, sp.size()) == sp) return sp.size();
  }
  return 0;
}

std::string_view trim(std::string_view s) {
  while (!s.empty()) {
    const size_t n = whitespace_len(s, 0);
    if (n == 0) break;
    s.remove_prefix(n);
  }
  // From the back: find the start of each trailing character (UTF-8 lead byte) and test it.
  while (!s.empty()) {
    size_t start = s.size() - 1;
    while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xc0) == 0x80) --start;
    const size_t n = whitespace_len(s, start);
    if (n == 0 || start + n != s.size()) break;
    s.remove_suffix(n);
  }
  return s;
}

class Llama3Template final : public ChatTemplate {
 public:
  explicit Llama3Template(Llama3Options o) : o_(std::move(o)) {}

  std::string name() const override { return "llama3"; }
  bool generation_starts_in_reasoning() const override { return false; }

  std::string apply(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const override {
    std::string out;
    for (size_t i = 0; i < messages.size(); ++i) {
      if (i == 0) out += o_.bos;  // only with a first message: no messages, no BOS
      out += "<|start_header_id|>";
      out += canonical_role(messages[i].role);
      out += "<|end_header_id|>\n\n";
      out += trim(messages[i].content);
      out += "<|eot_id|>";
    }
    if (add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
    return out;
  }

 private:
  Llama3Options o_;
};

}  // namespace

std::unique_ptr<ChatTemplate> make_llama3_template(Llama3Options options) {
  return std::make_unique<Llama3Template>(std::move(options));
}

}  // namespace deepcpu::chat_detail
