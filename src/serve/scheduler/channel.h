// The hand-off between the engine thread (producer) and one HTTP handler thread
// (consumer) of a request: a mutex-guarded queue of events plus a cancel flag the
// consumer sets when its client goes away. The engine thread never blocks on it.
#pragma once

#include "serve/scheduler/request.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>

namespace deepcpu::serve {

class RequestChannel {
 public:
  // Producer side (engine thread).
  void push(GenerationEvent event) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      events_.push_back(std::move(event));
    }
    cv_.notify_one();
  }

  // Consumer side: waits up to `timeout` for an event; false when none came.
  template <typename Rep, typename Period>
  bool pop(GenerationEvent* out, std::chrono::duration<Rep, Period> timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return !events_.empty(); })) return false;
    *out = std::move(events_.front());
    events_.pop_front();
    return true;
  }

  // The client is gone or the handler gave up: the scheduler frees the slot at its next step.
  void cancel() { cancelled_.store(true, std::memory_order_relaxed); }
  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<GenerationEvent> events_;
  std::atomic<bool> cancelled_{false};
};

}  // namespace deepcpu::serve
