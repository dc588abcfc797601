// Which chat template a model gets: by --chat-template name, else recognised from the
// GGUF's tokenizer.chat_template by distinctive substrings, as llama.cpp's
// llm_chat_detect_template does. Rendering lives in template_<family>.cpp.
#include "chat/chat_template.h"

#include "chat/template_families.h"

#include <fmt/format.h>

namespace deepcpu {
namespace {

using chat_detail::ChatMlOptions;
using chat_detail::DeepSeekOptions;
using chat_detail::Llama3Options;

constexpr const char* kDeepSeekBos = "<｜begin▁of▁sentence｜>";
constexpr const char* kLlama3Bos = "<|begin_of_text|>";
// Qwen2-Instruct's tokenizer_config.json; Qwen1.5 and Qwen2.5 differ, which is why
// detect() reads the default from the template text instead.
constexpr const char* kQwen2DefaultSystem = "You are a helpful assistant.";

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

std::string names_list() {
  std::string out;
  for (const std::string& n : ChatTemplate::names()) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// The literal default system prompt of a Qwen-style ChatML template: the text of a
// '<|im_start|>system\n...<|im_end|>' string with no expression inside it. The newline
// is a real one (Qwen1.5/2 tokenizer_config) or the two characters \n (Qwen2.5).
std::string chatml_default_system(std::string_view text) {
  for (std::string_view opener : {std::string_view("<|im_start|>system\n"), std::string_view("<|im_start|>system\\n")}) {
    for (size_t at = text.find(opener); at != std::string_view::npos; at = text.find(opener, at + 1)) {
      const size_t begin = at + opener.size();
      const size_t end = text.find("<|im_end|>", begin);
      if (end == std::string_view::npos) break;
      std::string_view body = text.substr(begin, end - begin);
      if (body.empty() || body.find_first_of("'\"{}+") != std::string_view::npos) continue;
      return std::string(body);
    }
  }
  return "";
}

// {{bos_token}}: the text of the model's BOS token, as llama.cpp passes it to the
// template; "" when the GGUF does not say.
std::string model_bos_text(const gguf::Model& model) {
  const gguf::Value* id = model.find("tokenizer.ggml.bos_token_id");
  const gguf::Value* tokens = model.find("tokenizer.ggml.tokens");
  if (!id || !tokens || !id->is_integer() || tokens->type != gguf::ValueType::kArray) return "";
  if (id->u >= tokens->array.size()) return "";
  const gguf::Value& tok = tokens->array[id->u];
  return tok.type == gguf::ValueType::kString ? tok.s : "";
}

std::string or_default(const std::string& s, const char* fallback) { return s.empty() ? fallback : s; }

}  // namespace

std::vector<std::string> ChatTemplate::names() { return {"deepseek-r1", "deepseek-v3", "chatml", "llama3"}; }

Result<std::unique_ptr<ChatTemplate>> ChatTemplate::from_name(const std::string& name, const std::string& bos_text) {
  if (name == "deepseek-r1") {
    // llama.cpp models/templates/deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja
    return chat_detail::make_deepseek_template(DeepSeekOptions{
        .bos = or_default(bos_text, kDeepSeekBos), .join_system = false, .strip_history_think = true,
        .think_generation_prompt = true});
  }
  if (name == "deepseek-v3") {
    return chat_detail::make_deepseek_template(DeepSeekOptions{
        .bos = or_default(bos_text, kDeepSeekBos), .join_system = true, .strip_history_think = false,
        .think_generation_prompt = false});
  }
  if (name == "chatml") return chat_detail::make_chatml_template(ChatMlOptions{.default_system = kQwen2DefaultSystem});
  if (name == "llama3") return chat_detail::make_llama3_template(Llama3Options{.bos = or_default(bos_text, kLlama3Bos)});
  return error("--chat-template '{}' is not a built-in template; accepted: {}.", gguf::printable(name), names_list());
}

Result<std::unique_ptr<ChatTemplate>> ChatTemplate::detect(const std::string& text, const std::string& bos_text) {
  // DeepSeek first: its templates never contain the other families' markers.
  if (contains(text, "<｜Assistant｜>") && contains(text, "<｜User｜>")) {
    DeepSeekOptions o;
    o.bos = or_default(bos_text, kDeepSeekBos);
    // R1-Distill: `{%- set ns.system_prompt = message['content'] -%}` (last one wins);
    // V3 and the full R1 append each one after '\n\n'.
    o.join_system = !contains(text, "set ns.system_prompt = message['content']");
    o.strip_history_think = contains(text, "</think>");  // content.split('</think>')[-1]
    o.think_generation_prompt = contains(text, "<｜Assistant｜><think>");
    return chat_detail::make_deepseek_template(std::move(o));
  }
  if (contains(text, "<|im_start|>")) {
    return chat_detail::make_chatml_template(ChatMlOptions{.default_system = chatml_default_system(text)});
  }
  if (contains(text, "<|start_header_id|>") && contains(text, "<|end_header_id|>")) {
    return chat_detail::make_llama3_template(Llama3Options{.bos = or_default(bos_text, kLlama3Bos)});
  }
  return error(
      "tokenizer.chat_template is not one of the built-in families (looked for <｜Assistant｜> + <｜User｜>, "
      "<|im_start|>, <|start_header_id|>); it begins \"{}\". Pass --chat-template with one of: {}.",
      gguf::printable(text, 80), names_list());
}

Result<std::unique_ptr<ChatTemplate>> ChatTemplate::create(const gguf::Model& model, const std::string& name) {
  const std::string bos = model_bos_text(model);
  if (!name.empty()) return from_name(name, bos);
  Result<std::optional<std::string>> text = model.get_string("tokenizer.chat_template");
  if (!text.is_ok()) return text.status();
  if (!text.value()) {
    return error("{}: no tokenizer.chat_template in the GGUF metadata, so the prompt format is unknown. "
                 "Pass --chat-template with one of: {}.",
                 model.path(), names_list());
  }
  Result<std::unique_ptr<ChatTemplate>> t = detect(*text.value(), bos);
  if (!t.is_ok()) return error("{}: {}", model.path(), t.status().message());
  return t;
}

namespace chat_detail {
std::string_view canonical_role(const std::string& role) {
  return role == "developer" ? std::string_view("system") : std::string_view(role);
}
}  // namespace chat_detail

}  // namespace deepcpu
