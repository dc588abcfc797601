// See serve_util.h.
#include "serve/serve_util.h"

#include "test_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

namespace deepcpu::test {

namespace {

int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    socklen_t len = sizeof addr;
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

bool exited(pid_t pid) {
  int status = 0;
  return waitpid(pid, &status, WNOHANG) == pid;
}

void kill_and_reap(pid_t pid) {
  if (pid <= 0) return;
  kill(pid, SIGTERM);
  for (int i = 0; i < 100; ++i) {
    if (exited(pid)) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
}

}  // namespace

std::unique_ptr<ServerProcess> ServerProcess::start(const std::vector<std::string>& args, std::string* error) {
  static int counter = 0;
  const std::string dir = temp_dir();
  // A port picked free can be taken before the server binds it: try a few.
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::unique_ptr<ServerProcess> s(new ServerProcess());
    s->port_ = free_port();
    s->log_path_ = dir + "/serve-" + std::to_string(getpid()) + "-" + std::to_string(++counter) + ".log";
    std::vector<std::string> argv = {DEEPCPU_BINARY, "serve", "--host", "127.0.0.1", "--port", std::to_string(s->port_)};
    argv.insert(argv.end(), args.begin(), args.end());
    const pid_t pid = fork();
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      const int fd = open(s->log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(fd, 1);
      dup2(fd, 2);
      std::vector<char*> cargv;
      for (std::string& a : argv) cargv.push_back(a.data());
      cargv.push_back(nullptr);
      execv(cargv[0], cargv.data());
      _exit(127);
    }
    s->pid_ = pid;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    bool child_gone = false;
    while (std::chrono::steady_clock::now() < deadline) {
      if (exited(pid)) {
        s->pid_ = -1;
        child_gone = true;
        break;
      }
      httplib::Client c("127.0.0.1", s->port_);
      c.set_connection_timeout(1, 0);
      c.set_read_timeout(2, 0);
      if (auto r = c.Get("/health"); r && r->status == 200) return s;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    *error = "deepcpu serve did not become ready; its log:\n" + s->log();
    if (!child_gone || s->log().find("cannot listen") == std::string::npos) return nullptr;
  }
  return nullptr;
}

ServerProcess::~ServerProcess() { kill_and_reap(pid_); }

std::unique_ptr<httplib::Client> ServerProcess::client(int timeout_s) const {
  auto c = std::make_unique<httplib::Client>("127.0.0.1", port_);
  c->set_connection_timeout(5, 0);
  c->set_read_timeout(timeout_s, 0);
  c->set_write_timeout(timeout_s, 0);
  return c;
}

std::string ServerProcess::log() const { return read_file(log_path_); }

namespace {

HttpReply to_reply(const httplib::Result& r) {
  HttpReply out;
  if (!r) return out;
  out.status = r->status;
  out.body = r->body;
  out.headers = r->headers;
  out.json = nlohmann::json::parse(r->body, nullptr, false);
  if (out.json.is_discarded()) out.json = nullptr;
  return out;
}

}  // namespace

HttpReply get(const ServerProcess& s, const std::string& path, const httplib::Headers& headers) {
  return to_reply(s.client()->Get(path, headers));
}

HttpReply post(const ServerProcess& s, const std::string& path, const std::string& body, const httplib::Headers& headers) {
  return to_reply(s.client()->Post(path, headers, body, "application/json"));
}

SseReply post_sse(const ServerProcess& s, const std::string& path, const nlohmann::json& body) {
  SseReply out;
  httplib::Request req;
  req.method = "POST";
  req.path = path;
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    out.raw.append(data, n);
    return true;
  };
  auto r = s.client()->send(req);
  if (!r) return out;
  out.status = r->status;
  if (out.status != 200) {
    out.raw = r->body.empty() ? out.raw : r->body;
    return out;
  }
  size_t at = 0;
  while (at < out.raw.size()) {
    const size_t end = out.raw.find("\n\n", at);
    if (end == std::string::npos || out.raw.compare(at, 6, "data: ") != 0) {
      out.framing_ok = false;
      break;
    }
    const std::string payload = out.raw.substr(at + 6, end - at - 6);
    at = end + 2;
    if (payload == "[DONE]") {
      out.done = at == out.raw.size();
      break;
    }
    auto j = nlohmann::json::parse(payload, nullptr, false);
    if (j.is_discarded()) {
      out.framing_ok = false;
      break;
    }
    out.events.push_back(std::move(j));
  }
  return out;
}

RawRequest::RawRequest(const ServerProcess& s, const std::string& path, const nlohmann::json& body) {
  fd_ = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(s.port()));
  if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return;
  timeval tv{0, 100000};
  setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const std::string b = body.dump();
  const std::string req = "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
                          "Content-Length: " + std::to_string(b.size()) + "\r\n\r\n" + b;
  send(fd_, req.data(), req.size(), MSG_NOSIGNAL);
}

RawRequest::~RawRequest() {
  if (fd_ >= 0) close(fd_);
}

const std::string& RawRequest::read(size_t min_bytes, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  char buf[4096];
  while (got_.size() < min_bytes && std::chrono::steady_clock::now() < deadline) {
    const ssize_t n = recv(fd_, buf, sizeof buf, 0);
    if (n == 0) break;
    if (n > 0) got_.append(buf, static_cast<size_t>(n));
  }
  return got_;
}

std::string post_and_hang_up(const ServerProcess& s, const std::string& path, const nlohmann::json& body,
                             size_t min_bytes) {
  RawRequest r(s, path, body);
  return r.read(min_bytes, 30000);
}

}  // namespace deepcpu::test
