// See http_server.h.
#include "serve/http/http_server.h"

#include "base/log.h"
#include "serve/openai/errors.h"
#include "serve/openai/response.h"

#include <fmt/format.h>

namespace deepcpu::serve {

bool api_key_matches(const std::string& presented, const std::string& expected) {
  // Walk the whole presented key; fold the length difference in, so neither an early
  // mismatch nor a prefix returns sooner.
  unsigned diff = presented.size() == expected.size() ? 0u : 1u;
  for (size_t i = 0; i < presented.size(); ++i) {
    const unsigned char want = expected.empty() ? 0 : static_cast<unsigned char>(expected[i % expected.size()]);
    diff |= static_cast<unsigned char>(presented[i]) ^ want;
  }
  return diff == 0 && !expected.empty();
}

void send_json(httplib::Response& res, const nlohmann::json& body, int http_status) {
  res.status = http_status;
  res.set_content(dump_json(body), "application/json; charset=utf-8");
}

void send_error(httplib::Response& res, int http_status, const std::string& message) {
  send_json(res, error_json(http_status, message), http_status);
}

namespace {

// Open without a key, as in llama-server: liveness probes and the page that asks for the key.
bool is_public(const std::string& path) { return path == "/health" || path == "/" || path == "/index.html"; }

std::string presented_key(const httplib::Request& req) {
  const std::string auth = req.get_header_value("Authorization");
  static const std::string kBearer = "Bearer ";
  if (auth.size() > kBearer.size() && auth.compare(0, kBearer.size(), kBearer) == 0) return auth.substr(kBearer.size());
  return req.get_header_value("X-Api-Key");
}

}  // namespace

HttpServer::HttpServer(HttpOptions options) : options_(std::move(options)) {
  const size_t n_threads = static_cast<size_t>(std::max(4, options_.n_threads));
  server_.new_task_queue = [n_threads] { return new httplib::ThreadPool(n_threads); };
  server_.set_payload_max_length(options_.max_body_bytes);
  server_.set_read_timeout(options_.timeout_s, 0);
  server_.set_write_timeout(options_.timeout_s, 0);
  server_.set_default_headers({{"Access-Control-Allow-Origin", "*"}, {"Server", "deepcpu"}});

  server_.Options(R"(.*)", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
    res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Api-Key");
    res.status = 204;
  });

  server_.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (options_.api_key.empty() || req.method == "OPTIONS" || is_public(req.path))
      return httplib::Server::HandlerResponse::Unhandled;
    if (api_key_matches(presented_key(req), options_.api_key)) return httplib::Server::HandlerResponse::Unhandled;
    send_error(res, 401, "invalid or missing API key: send 'Authorization: Bearer <key>' (the server's --api-key)");
    return httplib::Server::HandlerResponse::Handled;
  });

  // httplib's own errors (no route, body too large, bad request line) arrive with no body.
  server_.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty() || res.is_chunked_content_provider_) return;
    std::string message;
    switch (res.status) {
      case 404: message = fmt::format("no such endpoint: {} {}", req.method, req.path); break;
      case 413:
        message = fmt::format("request body is larger than the {} bytes this server accepts", options_.max_body_bytes);
        break;
      default: message = fmt::format("HTTP {} for {} {}", res.status, req.method, req.path); break;
    }
    send_error(res, res.status, message);
  });

  server_.set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown error";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    DEEPCPU_LOG_WARN("{} {}: internal error: {}", req.method, req.path, what);
    send_error(res, 500, "internal error: " + what);
  });
}

HttpServer::~HttpServer() { stop(); }

Status HttpServer::bind() {
  if (options_.port == 0) {
    port_ = server_.bind_to_any_port(options_.host);
    if (port_ <= 0) return error("cannot listen on {}: no free port (--host)", options_.host);
  } else {
    if (!server_.bind_to_port(options_.host, options_.port))
      return error("cannot listen on {}:{}: address in use or not available (--host/--port)", options_.host,
                   options_.port);
    port_ = options_.port;
  }
  return Status::ok();
}

void HttpServer::start() {
  thread_ = std::thread([this] { server_.listen_after_bind(); });
}

void HttpServer::stop() {
  server_.stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace deepcpu::serve
