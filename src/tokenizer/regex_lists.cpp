// The pre-tokenizers by tokenizer.ggml.pre: the regex lists, verbatim from llama.cpp's
// llm_tokenizer_bpe (80fb11a), and the vocab flags llama_vocab::load sets for each name. They are HF tokenizer.json patterns, with `(?i:...)`
// contractions spelled out as llama.cpp adapted them (PR #6920). Non-ASCII characters
// are written as \u escapes: the deepseek-llm class holds codepoints such as U+1FD3 and
// U+212A that Unicode normalization (NFC) in an editor would silently replace.
#include "tokenizer/pre_tokenizer.h"

namespace deepcpu::tokenizer {
namespace {

const char* const kGpt2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";

const char* const kLlama3 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const char* const kQwen2 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

}  // namespace

std::optional<PreTokenizerSpec> pre_tokenizer_spec(const std::string& pre) {
  if (pre == "llama3" || pre == "llama-v3" || pre == "llama-bpe" || pre == "falcon3" || pre == "falcon-h1" ||
      pre == "pixtral" || pre == "midm-2.0" || pre == "lfm2") {
    return PreTokenizerSpec{{kLlama3}, /*ignore_merges=*/true, /*add_bos=*/true, /*clean_spaces=*/true};
  }
  if (pre == "qwen2" || pre == "deepseek-r1-qwen") return PreTokenizerSpec{{kQwen2}, false, false, false};
  if (pre == "deepseek-llm") {
    return PreTokenizerSpec{{
        "[\r\n]",
        "\\s?[A-Za-z\u00B5\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u01BA\u01BC-\u01BF\u01C4-\u0293\u0295-\u02AF\u0370-\u0373\u0376\u0377\u037B-\u037D\u037F\u0386\u0388-\u038A\u038C\u038E-\u03A1\u03A3-\u03F5\u03F7-\u0481\u048A-\u052F\u0531-\u0556\u10A0-\u10C5\u13A0-\u13F5\u13F8-\u13FD\u1C90-\u1CBA\u1CBD-\u1CBF\u1D00-\u1D2B\u1D6B-\u1D77\u1D79-\u1D9A\u1E00-\u1F15\u1F18-\u1F1D\u1F20-\u1F45\u1F48-\u1F4D\u1F50-\u1F57\u1F59\u1F5B\u1F5D\u1F5F-\u1F7D\u1F80-\u1FB4\u1FB6-\u1FBC\u1FBE\u1FC2-\u1FC4\u1FC6-\u1FCC\u1FD0-\u1FD3\u1FD6-\u1FDB\u1FE0-\u1FEC\u1FF2-\u1FF4\u1FF6-\u1FFC\u2102\u2107\u210A-\u2113\u2115\u2119-\u211D\u2124\u2126\u2128\u212A-\u212D\u212F-\u2134\u2139\u213C-\u213F\u2145-\u2149\u214E\u2183\u2184\u2C00-\u2C7B\u2C7E-\u2CE4\u2CEB-\u2CEE\u2CF2\u2CF3\uA640-\uA66D\uA680-\uA69B\uA722-\uA76F\uA771-\uA787\uA78B-\uA78E\uAB70-\uABBF\uFB00-\uFB06\uFB13-\uFB17\uFF21-\uFF3A\uFF41-\uFF5A\U00010400-\U0001044F\U000104B0-\U000104D3\U000104D8-\U000104FB\U00010C80-\U00010CB2\U00010CC0-\U00010CF2\U000118A0-\U000118DF\U0001E900-\U0001E943]+",
        "\\s?[!-/:-~\uFF01-\uFF0F\uFF1A-\uFF5E\u2018-\u201F\u3000-\u3002]+",
        "\\s+$",
        "[\u4E00-\u9FA5\u0800-\u4E00\uAC00-\uD7FF]+",
        "\\p{N}+",
    }, false, false, false};
  }
  if (pre == "deepseek-v3") {
    return PreTokenizerSpec{{
        "\\p{N}{1,3}",
        "[\u4E00-\u9FA5\u3040-\u309F\u30A0-\u30FF]+",
        "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| "
        "?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
    }, false, false, false};
  }
  if (pre == "deepseek-coder") {
    return PreTokenizerSpec{{
        "[\r\n]",
        "\\s?\\p{L}+",
        "\\s?\\p{P}+",
        "[\u4E00-\u9FA5\u0800-\u4E00\uAC00-\uD7FF]+",
        "\\p{N}",
    }, false, false, false};
  }
  if (pre == "gpt-2" || pre == "phi-2" || pre == "jina-es" || pre == "jina-de" || pre == "gigachat" ||
      pre == "jina-v2-es" || pre == "jina-v2-de" || pre == "a.x-4.0" || pre == "mellum") {
    return PreTokenizerSpec{{kGpt2}, false, false, true};
  }
  if (pre.empty() || pre == "default") {
    return PreTokenizerSpec{{
        "[\\p{P}\\$\\+<=>\\^~\\|]+",
        kGpt2,
        "\\p{N}+",
        "[0-9][0-9][0-9]",
    }, false, false, true};
  }
  return std::nullopt;
}

}  // namespace deepcpu::tokenizer
