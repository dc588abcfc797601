// Registers the HTTP endpoints on the server: generation (routes_generate.cpp:
// /v1/chat/completions, /v1/completions) and the rest (routes_info.cpp: /health, /v1/models,
// /props, /slots, /metrics, /tokenize, /detokenize, the web page).
#pragma once

#include "serve/server_state.h"

#include <httplib.h>

namespace deepcpu::serve {

void add_generation_routes(httplib::Server& server, ServerState& state);
void add_info_routes(httplib::Server& server, ServerState& state);

}  // namespace deepcpu::serve
