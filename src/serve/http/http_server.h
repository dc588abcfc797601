// The HTTP transport around cpp-httplib: binding, worker threads, body-size limit (413),
// API-key check (401, constant-time; /health and the web page stay open), OpenAI-style
// bodies for errors httplib raises itself (404, 413), CORS. Routes are added by
// serve/openai/routes_*.cpp; this file knows nothing about models.
#pragma once

#include "base/status.h"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <thread>

namespace deepcpu::serve {

struct HttpOptions {
  std::string host = "127.0.0.1";
  int port = 8080;            // 0: any free port (port() tells which)
  std::string api_key;        // "" : no authentication
  int timeout_s = 600;        // read/write timeout of a connection (--timeout)
  size_t max_body_bytes = 8u << 20;
  int n_threads = 16;         // handler threads; a waiting request holds one
};

class HttpServer {
 public:
  explicit HttpServer(HttpOptions options);
  ~HttpServer();

  httplib::Server& routes() { return server_; }
  // Binds host:port; the error names both.
  Status bind();
  int port() const { return port_; }
  // Serves on a background thread until stop().
  void start();
  void stop();

 private:
  HttpOptions options_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

// Constant-time comparison of a presented key with the expected one: the time depends
// only on the presented key's length, never on where the first difference is.
bool api_key_matches(const std::string& presented, const std::string& expected);

// Sets an OpenAI-style error body and status.
void send_error(httplib::Response& res, int http_status, const std::string& message);
void send_json(httplib::Response& res, const nlohmann::json& body, int http_status = 200);

}  // namespace deepcpu::serve
