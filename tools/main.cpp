// `deepcpu <command> [flags]`: one binary, one subcommand per file.
#include "commands.h"

#include <cstdio>
#include <cstring>
#include <string>

namespace {

struct Command {
  const char* name;
  int (*fn)(int, char**);
  const char* help;
};

const Command kCommands[] = {
    {"run", deepcpu::tools::cmd_run, "generate text from a prompt"},
    {"tokenize", deepcpu::tools::cmd_tokenize, "print the tokens of a text"},
    {"logits", deepcpu::tools::cmd_logits, "print the top-K logits at every prompt position (JSON)"},
    {"gguf", deepcpu::tools::cmd_gguf, "print a GGUF file's metadata and tensor table"},
    {"serve", deepcpu::tools::cmd_serve, "OpenAI-compatible HTTP server (llama-server's flags)"},
    {"bench", deepcpu::tools::cmd_bench, "pp/tg speed like llama-bench, with read bandwidth and roofline"},
    {"batched-bench", deepcpu::tools::cmd_batched_bench, "batched prefill/decode speed like llama-batched-bench"},
};

void usage(FILE* f) {
  std::fprintf(f, "usage: deepcpu <command> [flags]   (deepcpu <command> --help for its flags)\n\ncommands:\n");
  for (const Command& c : kCommands) std::fprintf(f, "  %-10s %s\n", c.name, c.help);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  for (const Command& c : kCommands) {
    if (std::strcmp(argv[1], c.name) == 0) return c.fn(argc - 1, argv + 1);
  }
  std::fprintf(stderr, "deepcpu: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return 2;
}
