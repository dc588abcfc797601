// Subcommands of the `deepcpu` binary; each lives in cmd_<name>.cpp.
#pragma once

namespace deepcpu::tools {

// Each returns the process exit code: 0 ok, 1 bad input or failure, 2 usage error.
int cmd_gguf(int argc, char** argv);
int cmd_tokenize(int argc, char** argv);
int cmd_run(int argc, char** argv);
int cmd_logits(int argc, char** argv);
int cmd_serve(int argc, char** argv);
int cmd_bench(int argc, char** argv);
int cmd_batched_bench(int argc, char** argv);

}  // namespace deepcpu::tools
