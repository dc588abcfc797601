// Black-box helpers for the server tests: start the real `deepcpu serve` on a free
// loopback port (RAII: the child is always killed, and dies with the test process), wait for
// /health, and talk HTTP with httplib's client, including SSE streams.
#pragma once

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <sys/types.h>
#include <vector>

namespace deepcpu::test {

class ServerProcess {
 public:
  // Starts `deepcpu serve --host 127.0.0.1 --port <free> <args>` and waits (at most 60 s)
  // for GET /health to answer 200. Null on failure, with the reason in *error.
  static std::unique_ptr<ServerProcess> start(const std::vector<std::string>& args, std::string* error);
  ~ServerProcess();

  int port() const { return port_; }
  std::unique_ptr<httplib::Client> client(int timeout_s = 60) const;
  std::string log() const;  // the server's stderr so far

 private:
  ServerProcess() = default;
  pid_t pid_ = -1;
  int port_ = 0;
  std::string log_path_;
};

struct HttpReply {
  int status = 0;  // 0: no answer
  std::string body;
  nlohmann::json json;  // parsed body (null if not JSON)
  httplib::Headers headers;
};

HttpReply get(const ServerProcess& s, const std::string& path, const httplib::Headers& headers = {});
HttpReply post(const ServerProcess& s, const std::string& path, const std::string& body,
               const httplib::Headers& headers = {});
inline HttpReply post(const ServerProcess& s, const std::string& path, const nlohmann::json& body) {
  return post(s, path, body.dump());
}

// A streamed response split into its SSE events.
struct SseReply {
  int status = 0;
  std::string raw;
  std::vector<nlohmann::json> events;  // every `data: {...}` event in order
  bool done = false;                   // `data: [DONE]` came last
  bool framing_ok = true;              // every event was `data: ...\n\n`
};
SseReply post_sse(const ServerProcess& s, const std::string& path, const nlohmann::json& body);

// A request on a raw socket that the test closes when it likes (the destructor does).
class RawRequest {
 public:
  RawRequest(const ServerProcess& s, const std::string& path, const nlohmann::json& body);
  ~RawRequest();
  // Reads until `min_bytes` in all arrived, the server closed, or `timeout_ms` passed.
  const std::string& read(size_t min_bytes, int timeout_ms);

 private:
  int fd_ = -1;
  std::string got_;
};

// Sends a streaming request on a raw socket, reads until `min_bytes` arrived (or 30 s),
// then closes the connection mid-stream. Returns the bytes read.
std::string post_and_hang_up(const ServerProcess& s, const std::string& path, const nlohmann::json& body,
                             size_t min_bytes);

}  // namespace deepcpu::test
