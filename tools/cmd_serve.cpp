// deepcpu serve: the OpenAI-compatible HTTP server, a drop-in for llama-server's command
// line. This file only turns flags into the pieces under src/serve (HTTP transport, the
// OpenAI routes, the slot scheduler), loads the model while /health answers 503, and waits
// for SIGINT/SIGTERM.
#include "base/log.h"
#include "chat/chat_template.h"
#include "gguf/gguf.h"
#include "cli_common.h"
#include "commands.h"
#include "serve/http/http_server.h"
#include "serve/openai/routes.h"
#include "serve/scheduler/scheduler.h"
#include "serve/server_state.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <csignal>
#include <fstream>
#include <thread>

namespace deepcpu::tools {

namespace {

struct ServeFlags {
  EngineFlags engine;
  int threads_batch = 0;
  int parallel = 1;
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string api_key;
  std::string api_key_file;
  int n_predict = -1;
  SamplingParams sampling;
  std::string reasoning_format = "deepseek";
  std::string chat_template;
  int timeout_s = 600;
  bool metrics = false;
  bool no_webui = false;
  bool verbose = false;
  int queue_size = 64;
  int step_delay_ms = 0;
};

// llama.cpp's multi-letter single-dash flags that cli_common does not rewrite.
std::vector<std::string> rewrite_serve_aliases(int argc, char** argv) {
  static const std::pair<std::string_view, std::string_view> kAliases[] = {{"-np", "--parallel"},
                                                                           {"-tb", "--threads-batch"}};
  std::vector<std::string> out;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    for (const auto& [alias, name] : kAliases) {
      if (i == 0) break;
      if (arg == alias) arg = name;
      else if (arg.size() > alias.size() && arg.starts_with(alias) && arg[alias.size()] == '=')
        arg = std::string(name) + arg.substr(alias.size());
    }
    out.push_back(std::move(arg));
  }
  return out;
}

Result<std::string> read_api_key_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return error("--api-key-file '{}': cannot open the file", path);
  std::string key;
  std::getline(in, key);
  while (!key.empty() && (key.back() == '\r' || key.back() == ' ' || key.back() == '\t')) key.pop_back();
  if (key.empty()) return error("--api-key-file '{}': the first line is empty; put the key there", path);
  return key;
}

volatile std::sig_atomic_t g_stop_signal = 0;
extern "C" void on_stop_signal(int sig) { g_stop_signal = sig; }

std::string file_name(const std::string& path) { return path.substr(path.rfind('/') + 1); }

}  // namespace

int cmd_serve(int argc, char** argv) {
  ServeFlags f;
  f.sampling = SamplingParams{};
  CLI::App app{
      "OpenAI-compatible HTTP server (llama-server's flags): POST /v1/chat/completions, /v1/completions,\n"
      "GET /v1/models, /health, /props, /slots, /metrics (--metrics), POST /tokenize, /detokenize, and a\n"
      "chat page at GET /. -np slots share one KV cache of -c tokens; requests beyond them wait in a queue."};
  app.name("deepcpu serve");
  EngineFlagSet which;
  which.flash_attn = true;  // -fa [on|off|auto], shared with run/logits
  add_engine_flags(app, f.engine, which);
  app.add_option("--threads-batch", f.threads_batch, "(-tb) threads for prompt processing (accepted; -t is used)");
  app.add_option("--parallel", f.parallel, "(-np) slots: requests processed at once")->capture_default_str();
  app.add_option("--host", f.host, "address to listen on")->capture_default_str();
  app.add_option("--port", f.port, "port to listen on")->capture_default_str();
  app.add_option("--api-key", f.api_key, "require 'Authorization: Bearer KEY' (GET /health stays open)");
  app.add_option("--api-key-file", f.api_key_file, "read the API key from the first line of a file");
  app.add_option("-n,--n-predict", f.n_predict, "default max tokens per request (-1: until EOG or context full)")
      ->capture_default_str();
  add_sampling_flags(app, f.sampling, "default ");
  app.add_option("--reasoning-format", f.reasoning_format,
                 "deepseek: R1 thinking goes to reasoning_content; none: raw text in content")
      ->check(CLI::IsMember({"deepseek", "none"}))
      ->capture_default_str();
  app.add_option("--chat-template", f.chat_template,
                 "built-in template: " + fmt::format("{}", fmt::join(ChatTemplate::names(), ", ")) +
                     " (default: detected from the model)");
  app.add_option("--timeout", f.timeout_s, "connection read/write timeout in seconds")->capture_default_str();
  app.add_flag("--metrics", f.metrics, "enable GET /metrics (Prometheus text)");
  app.add_flag("--no-webui", f.no_webui, "do not serve the chat page at GET /");
  app.add_flag("-v,--verbose", f.verbose, "log every request and scheduler event");
  app.add_option("--queue-size", f.queue_size, "requests that may wait for a slot before 503 (not in llama.cpp)")
      ->capture_default_str();
  app.add_option("--step-delay-ms", f.step_delay_ms, "sleep after each engine step (for tests; not in llama.cpp)");

  std::vector<std::string> args = rewrite_serve_aliases(argc, argv);
  std::vector<char*> ptrs;
  for (std::string& a : args) ptrs.push_back(a.data());
  if (int rc = parse_args(app, static_cast<int>(ptrs.size()), ptrs.data()); rc >= 0) return rc;
  if (f.verbose) set_log_level(LogLevel::kDebug);

  if (f.parallel < 1) return fail("serve", fmt::format("-np {}: the slot count must be at least 1", f.parallel));
  if (f.queue_size < 1) return fail("serve", fmt::format("--queue-size {}: must be at least 1", f.queue_size));
  if (f.port < 0 || f.port > 65535) return fail("serve", fmt::format("--port {}: must be in 0..65535", f.port));
  if (f.timeout_s < 1) return fail("serve", fmt::format("--timeout {}: must be at least 1 second", f.timeout_s));
  if (Status st = Sampler::validate(f.sampling); !st.is_ok()) return fail("serve", st.message());
  if (!f.api_key_file.empty()) {
    if (!f.api_key.empty()) return fail("serve", "give the API key with --api-key or --api-key-file, not both");
    auto key = read_api_key_file(f.api_key_file);
    if (!key.is_ok()) return fail("serve", key.status().message());
    f.api_key = *key;
  }
  auto options = engine_options(f.engine);
  if (!options.is_ok()) return fail("serve", options.status().message());
  options->n_seq_max = f.parallel;

  // SIGINT/SIGTERM only set a flag (any thread may take them, including ones started
  // before this point); the main thread polls it. A write to a closed socket must not kill
  // the process: httplib's send() failing is how a hung-up client is noticed.
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
  std::signal(SIGPIPE, SIG_IGN);

  serve::ServerState state;
  serve::ServeConfig& c = state.config;
  c.model_path = options->model_path;
  c.model_id = file_name(options->model_path);
  c.reasoning_format = f.reasoning_format == "none" ? serve::ReasoningFormat::kNone : serve::ReasoningFormat::kDeepseek;
  c.defaults.sampling = f.sampling;
  c.defaults.n_predict = f.n_predict;
  c.metrics = f.metrics;
  c.webui = !f.no_webui;
  c.n_slots = f.parallel;
  c.n_ctx = options->n_ctx;

  serve::HttpOptions http;
  http.host = f.host;
  http.port = f.port;
  http.api_key = f.api_key;
  http.timeout_s = f.timeout_s;
  // A waiting or streaming request holds a handler thread; keep some for /health and friends.
  http.n_threads = f.parallel + f.queue_size + 8;
  serve::HttpServer server(http);
  serve::add_info_routes(server.routes(), state);
  serve::add_generation_routes(server.routes(), state);
  if (Status st = server.bind(); !st.is_ok()) return fail("serve", st.message());
  server.start();
  std::fprintf(stderr, "deepcpu serve: listening on http://%s:%d (loading the model; /health answers 503 until ready)\n",
               f.host.c_str(), server.port());

  auto loaded = load_engine(*options);
  if (!loaded.is_ok()) return fail("serve", loaded.status().message());
  std::unique_ptr<Engine> engine = std::move(*loaded);
  // A GGUF with no chat template at all (base models such as the bundled stories260K)
  // gets ChatML, as llama-server does; a template deepcpu does not recognise stays an error.
  std::string template_name = f.chat_template;
  if (template_name.empty() && engine->gguf_file().find("tokenizer.chat_template") == nullptr) {
    template_name = "chatml";
    DEEPCPU_LOG_WARN("deepcpu serve: the model has no chat template; using chatml (as llama-server does). "
                     "Pass --chat-template to choose another.");
  }
  auto tmpl = ChatTemplate::create(engine->gguf_file(), template_name);
  if (!tmpl.is_ok()) {
    if (!f.chat_template.empty()) return fail("serve", fmt::format("--chat-template {}: {}", f.chat_template, tmpl.status().message()));
    state.chat_template_error = fmt::format(
        "this model has no chat template deepcpu knows ({}); start the server with --chat-template NAME (one of {}), "
        "or use /v1/completions",
        tmpl.status().message(), fmt::join(ChatTemplate::names(), ", "));
    DEEPCPU_LOG_WARN("deepcpu serve: {}", state.chat_template_error);
  }
  serve::SchedulerOptions so;
  so.n_slots = f.parallel;
  so.queue_capacity = static_cast<size_t>(f.queue_size);
  so.step_delay_ms = f.step_delay_ms;
  auto scheduler = std::make_unique<serve::Scheduler>(*engine, so);
  state.engine = engine.get();
  state.scheduler = scheduler.get();
  state.chat_template = tmpl.is_ok() ? tmpl->get() : nullptr;
  state.ready.store(true, std::memory_order_release);
  std::fprintf(stderr, "deepcpu serve: ready: %s, %d slot(s), -c %d shared, chat template %s\n", c.model_id.c_str(),
               f.parallel, c.n_ctx, state.chat_template ? state.chat_template->name().c_str() : "(none)");

  while (g_stop_signal == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::fprintf(stderr, "deepcpu serve: %s, stopping\n", g_stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
  state.ready.store(false, std::memory_order_release);
  scheduler.reset();  // open requests get a 503 event
  server.stop();
  return 0;
}

}  // namespace deepcpu::tools
