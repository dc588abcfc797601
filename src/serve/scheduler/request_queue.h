// The FIFO of requests waiting for a free slot. Bounded: when it is full the HTTP side
// answers 503 with Retry-After instead of letting work pile up. Not thread-safe by
// itself; the scheduler's mutex guards it.
#pragma once

#include "serve/scheduler/channel.h"
#include "serve/scheduler/request.h"

#include <chrono>
#include <deque>
#include <memory>

namespace deepcpu::serve {

struct QueuedRequest {
  GenerationRequest request;
  std::shared_ptr<RequestChannel> channel;
  std::chrono::steady_clock::time_point t_enqueued;
};

class RequestQueue {
 public:
  explicit RequestQueue(size_t capacity) : capacity_(capacity) {}
  bool full() const { return items_.size() >= capacity_; }
  bool empty() const { return items_.empty(); }
  size_t size() const { return items_.size(); }
  size_t capacity() const { return capacity_; }
  // Caller checked !full().
  void push(QueuedRequest r) { items_.push_back(std::move(r)); }
  const GenerationRequest& front_request() const { return items_.front().request; }
  QueuedRequest pop() {
    QueuedRequest r = std::move(items_.front());
    items_.pop_front();
    return r;
  }
  // Drops requests whose clients went away while waiting; returns how many.
  size_t drop_cancelled() {
    const size_t before = items_.size();
    std::erase_if(items_, [](const QueuedRequest& r) { return r.channel->cancelled(); });
    return before - items_.size();
  }

 private:
  size_t capacity_;
  std::deque<QueuedRequest> items_;
};

}  // namespace deepcpu::serve
