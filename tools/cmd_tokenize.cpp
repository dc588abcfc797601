// deepcpu tokenize — placeholder until its owner lands it (issue #2).
#include "commands.h"

#include <cstdio>

namespace deepcpu::tools {

int cmd_tokenize(int, char**) {
  std::fprintf(stderr, "deepcpu tokenize: not implemented yet\n");
  return 1;
}

}  // namespace deepcpu::tools
