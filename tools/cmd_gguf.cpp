// deepcpu gguf — placeholder until its owner lands it (issue #2).
#include "commands.h"

#include <cstdio>

namespace deepcpu::tools {

int cmd_gguf(int, char**) {
  std::fprintf(stderr, "deepcpu gguf: not implemented yet\n");
  return 1;
}

}  // namespace deepcpu::tools
