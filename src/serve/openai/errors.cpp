// See errors.h. Types follow OpenAI's names (and llama-server's for 501/503).
#include "serve/openai/errors.h"

namespace deepcpu::serve {

std::string error_type(int http_status) {
  switch (http_status) {
    case 400: return "invalid_request_error";
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 413: return "invalid_request_error";
    case 501: return "not_supported_error";
    case 503: return "unavailable_error";
    default: return http_status < 500 ? "invalid_request_error" : "server_error";
  }
}

nlohmann::json error_json(int http_status, const std::string& message) {
  return {{"error", {{"message", message}, {"type", error_type(http_status)}, {"code", http_status}}}};
}

}  // namespace deepcpu::serve
