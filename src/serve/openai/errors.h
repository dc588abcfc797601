// OpenAI-style error bodies: {"error":{"message","type","code"}} with the HTTP status as
// the code, as llama-server sends them. Every handler error goes through here.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace deepcpu::serve {

struct ApiError {
  int http_status = 400;
  std::string message;
};

// "invalid_request_error", "authentication_error", "not_found_error", ... by status.
std::string error_type(int http_status);
nlohmann::json error_json(int http_status, const std::string& message);

}  // namespace deepcpu::serve
