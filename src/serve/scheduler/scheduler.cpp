// See scheduler.h. Threads: HTTP handler threads call submit()/slots()/metrics(), which
// only touch state under mu_; everything about slots, the engine and sampling runs on the
// one engine thread (loop()).
#include "serve/scheduler/scheduler.h"

#include "base/log.h"
#include "serve/scheduler/stop_strings.h"

#include <fmt/format.h>

#include <algorithm>

namespace deepcpu::serve {

namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

}  // namespace

struct Scheduler::Slot {
  int id = 0;
  std::shared_ptr<RequestChannel> channel;  // null: idle
  GenerationRequest request;
  // tokens[0, n_computed) are in this slot's KV sequence; the rest are known but not yet
  // evaluated (prompt still to prefill, or the last sampled token). An idle slot keeps its
  // computed tokens so a next prompt with the same prefix skips them.
  std::vector<TokenId> tokens;
  int32_t n_computed = 0;
  uint64_t admit_order = 0;
  uint64_t last_used = 0;
  std::unique_ptr<Sampler> sampler;
  std::unique_ptr<StreamDecoder> decoder;
  std::unique_ptr<StopMatcher> stop;
  GenerationStats stats;
  Clock::time_point t_assigned, t_first;
  bool generating = false;  // sampled at least one token
  int n_in_batch = 0;       // tokens this slot has in the current step's batch

  bool busy() const { return channel != nullptr; }
  int32_t n_pending() const { return static_cast<int32_t>(tokens.size()) - n_computed; }
};

Scheduler::Scheduler(Engine& engine, SchedulerOptions options)
    : engine_(engine),
      tok_(engine.tokenizer()),
      options_(options),
      n_ctx_(engine.options().n_ctx),
      n_ubatch_(std::max(1, engine.options().n_ubatch)),
      queue_(std::max<size_t>(1, options.queue_capacity)) {
  for (int i = 0; i < options_.n_slots; ++i) {
    slots_.push_back(std::make_unique<Slot>());
    slots_.back()->id = i;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    metrics_.queue_capacity = queue_.capacity();
    publish_locked();
  }
  thread_ = std::thread([this] { loop(); });
}

Scheduler::~Scheduler() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  GenerationEvent e;
  e.kind = GenerationEvent::Kind::kError;
  e.http_status = 503;
  e.error = "the server is shutting down";
  for (auto& s : slots_)
    if (s->busy()) s->channel->push(e);
  while (!queue_.empty()) queue_.pop().channel->push(e);
}

SubmitResult Scheduler::submit(GenerationRequest request) {
  SubmitResult r;
  const size_t n_prompt = request.prompt.size();
  if (n_prompt == 0) {
    r.http_status = 400;
    r.error = "the prompt is empty (0 tokens) and the model adds no BOS; nothing to continue";
    return r;
  }
  // One position must stay free for the first generated token.
  if (n_prompt >= static_cast<size_t>(n_ctx_)) {
    r.http_status = 400;
    r.error = fmt::format(
        "the prompt is {} tokens but the context holds {} (-c {}), and generation needs at least one more; "
        "shorten the prompt or start the server with a larger -c",
        n_prompt, n_ctx_, n_ctx_);
    return r;
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (queue_.full()) {
    ++metrics_.requests_rejected;
    r.http_status = 503;
    r.error = fmt::format("all {} slots are busy and the wait queue is full ({} requests); retry later",
                          options_.n_slots, queue_.capacity());
    return r;
  }
  r.channel = std::make_shared<RequestChannel>();
  queue_.push(QueuedRequest{std::move(request), r.channel, Clock::now()});
  metrics_.queue_depth = queue_.size();
  cv_.notify_one();
  return r;
}

std::vector<SlotInfo> Scheduler::slots() const {
  std::lock_guard<std::mutex> lock(mu_);
  return slot_info_;
}

SchedulerMetrics Scheduler::metrics() const {
  std::lock_guard<std::mutex> lock(mu_);
  return metrics_;
}

void Scheduler::publish_locked() {
  slot_info_.resize(slots_.size());
  int busy = 0;
  for (size_t i = 0; i < slots_.size(); ++i) {
    const Slot& s = *slots_[i];
    slot_info_[i] = SlotInfo{s.id, s.busy(), s.stats.n_prompt, s.n_computed, s.stats.n_generated};
    busy += s.busy() ? 1 : 0;
  }
  metrics_.slots_busy = busy;
  metrics_.slots_busy_max = std::max(metrics_.slots_busy_max, busy);
  metrics_.queue_depth = queue_.size();
}

void Scheduler::loop() {
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      const bool any_busy = std::any_of(slots_.begin(), slots_.end(), [](const auto& s) { return s->busy(); });
      if (!any_busy) cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
    }
    step();
    if (options_.step_delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(options_.step_delay_ms));
  }
}

void Scheduler::admit_locked() {
  metrics_.requests_cancelled += queue_.drop_cancelled();
  while (!queue_.empty()) {
    // The idle slot whose cache shares the longest prefix with the prompt; ties go to the
    // least recently used one.
    const std::vector<TokenId>& prompt = queue_.front_request().prompt;
    Slot* best = nullptr;
    size_t best_common = 0;
    for (auto& s : slots_) {
      if (s->busy()) continue;
      const size_t n = std::min<size_t>(s->n_computed, prompt.size());
      size_t common = 0;
      while (common < n && s->tokens[common] == prompt[common]) ++common;
      if (!best || common > best_common || (common == best_common && s->last_used < best->last_used)) {
        best = s.get();
        best_common = common;
      }
    }
    if (!best) return;
    assign(*best, queue_.pop());
    ++metrics_.requests_total;
  }
}

void Scheduler::assign(Slot& slot, QueuedRequest queued) {
  std::vector<TokenId> prompt = std::move(queued.request.prompt);
  int32_t common = 0;
  const int32_t n = std::min<int32_t>(slot.n_computed, static_cast<int32_t>(prompt.size()));
  while (common < n && slot.tokens[common] == prompt[common]) ++common;
  // The last prompt token is always evaluated: its logits pick the first new token.
  common = std::min<int32_t>(common, static_cast<int32_t>(prompt.size()) - 1);
  engine_.truncate_sequence(slot.id, common);
  slot.n_computed = common;
  slot.tokens = std::move(prompt);
  slot.channel = std::move(queued.channel);
  slot.request = std::move(queued.request);
  slot.admit_order = ++admit_counter_;
  slot.sampler = std::make_unique<Sampler>(slot.request.sampling, engine_.n_vocab());
  for (TokenId t : slot.tokens) slot.sampler->accept(t);
  slot.decoder = std::make_unique<StreamDecoder>(tok_, false);
  slot.stop = std::make_unique<StopMatcher>(slot.request.stop);
  slot.generating = false;
  slot.t_assigned = Clock::now();
  slot.stats = GenerationStats{};
  slot.stats.slot = slot.id;
  slot.stats.n_prompt = static_cast<int>(slot.tokens.size());
  slot.stats.n_cached = common;
  slot.stats.queue_ms = ms_between(queued.t_enqueued, slot.t_assigned);
  DEEPCPU_LOG_DEBUG("slot {}: new request, {} prompt tokens ({} reused from the cache)", slot.id, slot.tokens.size(),
                    common);
}

void Scheduler::release(Slot& slot) {
  slot.channel.reset();
  slot.tokens.resize(slot.n_computed);  // drop a sampled token that was never evaluated
  slot.sampler.reset();
  slot.decoder.reset();
  slot.stop.reset();
  slot.last_used = ++admit_counter_;
  prefill_blocked_ = false;
}

void Scheduler::finish(Slot& slot, const std::string& reason) {
  std::string tail;
  if (!slot.stop->stopped()) {
    tail = slot.stop->push(slot.decoder->flush());
    tail += slot.stop->flush();
  }
  if (!tail.empty()) {
    GenerationEvent t;
    t.text = std::move(tail);
    slot.channel->push(std::move(t));
  }
  const Clock::time_point now = Clock::now();
  if (!slot.generating) slot.t_first = now;
  slot.stats.prompt_ms = ms_between(slot.t_assigned, slot.t_first);
  slot.stats.gen_ms = ms_between(slot.t_first, now);
  {
    std::lock_guard<std::mutex> lock(mu_);
    metrics_.prompt_tokens_total += slot.stats.n_prompt - slot.stats.n_cached;
    metrics_.tokens_predicted_total += slot.stats.n_generated;
    metrics_.prompt_seconds_total += slot.stats.prompt_ms / 1e3;
    metrics_.predicted_seconds_total += slot.stats.gen_ms / 1e3;
  }
  GenerationEvent done;
  done.kind = GenerationEvent::Kind::kDone;
  done.finish_reason = reason;
  done.stats = slot.stats;
  slot.channel->push(std::move(done));
  release(slot);
}

void Scheduler::fail(Slot& slot, int http_status, const std::string& message) {
  GenerationEvent e;
  e.kind = GenerationEvent::Kind::kError;
  e.http_status = http_status;
  e.error = message;
  slot.channel->push(std::move(e));
  release(slot);
}

bool Scheduler::evict_idle_caches() {
  bool any = false;
  for (auto& s : slots_) {
    if (s->busy() || s->n_computed == 0) continue;
    engine_.truncate_sequence(s->id, 0);
    s->n_computed = 0;
    s->tokens.clear();
    any = true;
  }
  return any;
}

void Scheduler::sample_and_emit(Slot& slot, const float* logits) {
  const TokenId id = slot.sampler->sample(logits);
  slot.sampler->accept(id);
  if (!slot.generating) {
    slot.generating = true;
    slot.t_first = Clock::now();
  }
  ++slot.stats.n_generated;
  GenerationEvent piece;
  if (slot.request.n_logprobs >= 0) {
    TokenLogprob lp;
    lp.id = id;
    lp.logprob = Sampler::logprob(logits, engine_.n_vocab(), id);
    if (slot.request.n_logprobs > 0) Sampler::top_logprobs(logits, engine_.n_vocab(), slot.request.n_logprobs, &lp.top);
    piece.logprobs.push_back(std::move(lp));
  }
  if (tok_.is_eog(id) && !slot.request.ignore_eos) {
    finish(slot, "stop");
    return;
  }
  slot.tokens.push_back(id);
  piece.text = slot.stop->push(slot.decoder->push(id));
  if (!piece.text.empty() || !piece.logprobs.empty()) slot.channel->push(std::move(piece));
  if (slot.stop->stopped()) {
    finish(slot, "stop");
  } else if (slot.request.max_tokens >= 0 && slot.stats.n_generated >= slot.request.max_tokens) {
    finish(slot, "length");
  } else if (static_cast<int>(slot.tokens.size()) >= n_ctx_) {
    finish(slot, "length");  // the next token has no position left in the context
  }
}

bool Scheduler::step() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& s : slots_) {
      if (s->busy() && s->channel->cancelled()) {
        DEEPCPU_LOG_DEBUG("slot {}: client went away; slot freed", s->id);
        ++metrics_.requests_cancelled;
        release(*s);
      }
    }
    admit_locked();
    publish_locked();
  }

  // Decode tokens first (one per generating slot, rotating when they exceed the budget),
  // then prompt chunks, oldest request first. A slot's tokens go in position order.
  Batch batch;
  int budget = n_ubatch_;
  std::vector<Slot*> order;
  for (size_t i = 0; i < slots_.size(); ++i) {
    Slot* s = slots_[(i + decode_rotation_) % slots_.size()].get();
    s->n_in_batch = 0;
    if (s->busy() && s->n_pending() == 1) order.push_back(s);
  }
  decode_rotation_ = (decode_rotation_ + 1) % std::max<size_t>(1, slots_.size());
  const size_t n_decode_candidates = order.size();
  std::vector<Slot*> prefill;
  for (auto& s : slots_)
    if (s->busy() && s->n_pending() > 1) prefill.push_back(s.get());
  std::sort(prefill.begin(), prefill.end(), [](const Slot* a, const Slot* b) { return a->admit_order < b->admit_order; });
  if (!prefill_blocked_ || n_decode_candidates == 0) order.insert(order.end(), prefill.begin(), prefill.end());
  bool has_decode = false, has_prefill = false;
  std::vector<Slot*> in_batch;
  for (Slot* s : order) {
    if (budget == 0) break;
    const int n = std::min(budget, s->n_pending());
    for (int i = 0; i < n; ++i) {
      const int32_t pos = s->n_computed + i;
      batch.add(s->tokens[pos], pos, s->id, pos + 1 == static_cast<int32_t>(s->tokens.size()));
    }
    s->n_in_batch = n;
    budget -= n;
    (s->n_pending() == 1 ? has_decode : has_prefill) = true;
    in_batch.push_back(s);
  }
  if (batch.size() == 0) return false;

  Status st = engine_.decode(batch, &logits_);
  if (!st.is_ok()) {
    // The KV pool (shared by all slots) has no room. Free it in this order: idle slots'
    // reusable caches, then hold back prompt chunks while others generate, then end the
    // newest request in the batch.
    DEEPCPU_LOG_DEBUG("step of {} tokens refused: {}", batch.size(), st.message());
    if (evict_idle_caches()) return true;
    if (has_decode && has_prefill) {
      prefill_blocked_ = true;
      return true;
    }
    Slot* victim = *std::max_element(in_batch.begin(), in_batch.end(),
                                     [](const Slot* a, const Slot* b) { return a->admit_order < b->admit_order; });
    DEEPCPU_LOG_WARN("slot {}: the KV cache is full ({} tokens in this slot, -c {} shared by all slots): {}; "
                     "ending its request {}",
                     victim->id, victim->n_computed, n_ctx_, st.message(),
                     victim->generating ? "with finish_reason \"length\"" : "with 503");
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++metrics_.kv_exhausted_total;
    }
    if (victim->generating) {
      finish(*victim, "length");
    } else {
      fail(*victim, 503, fmt::format("the KV cache (-c {}, shared by all slots) has no room for this prompt of {} "
                                     "tokens now; retry later",
                                     n_ctx_, victim->tokens.size()));
    }
    engine_.truncate_sequence(victim->id, 0);
    victim->n_computed = 0;
    victim->tokens.clear();
    return true;
  }

  size_t row = 0;
  const size_t n_vocab = static_cast<size_t>(engine_.n_vocab());
  for (Slot* s : in_batch) {
    s->n_computed += s->n_in_batch;
    if (s->n_pending() == 0) sample_and_emit(*s, logits_.data() + n_vocab * row++);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++metrics_.steps_total;
    publish_locked();
  }
  return true;
}

}  // namespace deepcpu::serve
