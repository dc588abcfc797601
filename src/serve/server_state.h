// What every HTTP handler reads: the server's configuration and, once loading is done,
// the engine, the scheduler and the chat template. Handlers check `ready` first; the
// pointers are set before it turns true and never change afterwards.
#pragma once

#include "chat/chat_template.h"
#include "engine/engine.h"
#include "serve/openai/request_parse.h"
#include "serve/scheduler/scheduler.h"

#include <atomic>
#include <string>

namespace deepcpu::serve {

enum class ReasoningFormat { kDeepseek, kNone };

struct ServeConfig {
  std::string model_id;    // what /v1/models lists (the file name)
  std::string model_path;
  ReasoningFormat reasoning_format = ReasoningFormat::kDeepseek;
  RequestDefaults defaults;
  bool metrics = false;    // --metrics
  bool webui = true;       // --no-webui turns GET / off
  int n_slots = 1;
  int n_ctx = 4096;
};

struct ServerState {
  ServeConfig config;
  std::atomic<bool> ready{false};
  Engine* engine = nullptr;
  Scheduler* scheduler = nullptr;
  const ChatTemplate* chat_template = nullptr;  // null: chat requests get chat_template_error
  std::string chat_template_error;

  bool is_ready() const { return ready.load(std::memory_order_acquire); }
};

}  // namespace deepcpu::serve
