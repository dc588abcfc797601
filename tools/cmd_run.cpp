// deepcpu run — placeholder until its owner lands it (issue #2).
#include "commands.h"

#include <cstdio>

namespace deepcpu::tools {

int cmd_run(int, char**) {
  std::fprintf(stderr, "deepcpu run: not implemented yet\n");
  return 1;
}

}  // namespace deepcpu::tools
