// SPDX-License-Identifier: Apache-2.0
#include "correlate/correlator.h"

#include <utility>

namespace correlate {

namespace {

// Fill `x`, a default-constructed exchange (usually the new last element of the output vector),
// so that a pair is built in place instead of being built and then moved into the vector.
void incomplete_into(exchange& x, event&& e) {
  x.id = std::move(e.id);
  x.source = e.source;
  x.complete = false;
  if (auto* r = std::get_if<request_half>(&e.half)) {
    x.request = std::move(*r);
  } else {
    x.response = std::move(std::get<response_half>(e.half));
  }
  x.extra = std::move(e.extra);
}

void pair_into(exchange& x, event&& request, event&& response) {
  x.id = std::move(request.id);
  x.source = request.source;
  x.complete = true;
  x.request = std::move(std::get<request_half>(request.half));
  x.response = std::move(std::get<response_half>(response.half));
  // HAProxy's own measure is the better one when the configuration sends it.
  if (x.response->elapsed_us >= 0) {
    x.duration_us = x.response->elapsed_us;
  } else if (x.request->time_us > 0 && x.response->time_us >= x.request->time_us) {
    x.duration_us = x.response->time_us - x.request->time_us;
  }
  x.extra = std::move(request.extra);
  for (auto& f : response.extra) x.extra.push_back(std::move(f));
}

}  // namespace

exchange make_incomplete(event&& e) {
  exchange x;
  incomplete_into(x, std::move(e));
  return x;
}

exchange make_pair(event&& request, event&& response) {
  exchange x;
  pair_into(x, std::move(request), std::move(response));
  return x;
}

correlator::correlator(config cfg) : cfg_(cfg) {}

void correlator::add(event&& e, std::int64_t now_us, std::vector<exchange>& out,
                     std::int64_t tag) {
  (e.kind() == half_kind::request ? stats_.requests : stats_.responses)++;

  if (auto it = table_.find(e.id); it != table_.end()) {
    entry& waiting = it->second;
    if (waiting.half.kind() != e.kind()) {
      last_pair_wait_us_ = now_us - waiting.arrived_us;
      last_pair_tag_ = waiting.tag;
      pending_bytes_ -= waiting.bytes;
      order_.erase(waiting.pos);
      exchange& x = out.emplace_back();
      if (e.kind() == half_kind::response) {
        pair_into(x, std::move(waiting.half), std::move(e));
      } else {
        pair_into(x, std::move(e), std::move(waiting.half));
      }
      table_.erase(it);
      stats_.paired++;
      return;
    }
    // Same id, same kind: the older half goes out alone, the newer one waits.
    stats_.duplicates++;
    pending_bytes_ -= waiting.bytes;
    order_.erase(waiting.pos);
    incomplete_into(out.emplace_back(), std::move(waiting.half));
    table_.erase(it);
  }

  const std::size_t bytes = e.approx_bytes();
  evict_for(bytes, out);
  auto [it, inserted] = table_.try_emplace(e.id);
  it->second.half = std::move(e);
  it->second.arrived_us = now_us;
  it->second.bytes = bytes;
  it->second.tag = tag;
  it->second.pos = order_.insert(order_.end(), &it->first);
  pending_bytes_ += bytes;
}

std::optional<std::int64_t> correlator::oldest_tag() const {
  if (order_.empty()) return std::nullopt;
  return table_.find(*order_.front())->second.tag;
}

bool correlator::take_oldest(std::int64_t arrived_before_us, taken& out) {
  if (order_.empty()) return false;
  auto it = table_.find(*order_.front());
  if (it->second.arrived_us > arrived_before_us) return false;
  order_.pop_front();
  pending_bytes_ -= it->second.bytes;
  out.half = std::move(it->second.half);
  out.arrived_us = it->second.arrived_us;
  out.tag = it->second.tag;
  table_.erase(it);
  return true;
}

void correlator::emit_oldest(std::vector<exchange>& out) {
  auto it = table_.find(*order_.front());
  order_.pop_front();
  pending_bytes_ -= it->second.bytes;
  incomplete_into(out.emplace_back(), std::move(it->second.half));
  table_.erase(it);
}

void correlator::evict_for(std::size_t incoming_bytes, std::vector<exchange>& out) {
  while (!order_.empty() && (table_.size() + 1 > cfg_.max_pending ||
                             pending_bytes_ + incoming_bytes > cfg_.max_pending_bytes)) {
    emit_oldest(out);
    stats_.evicted++;
  }
}

void correlator::expire(std::int64_t now_us, std::vector<exchange>& out) {
  while (!order_.empty()) {
    const entry& oldest = table_.find(*order_.front())->second;
    if (oldest.arrived_us > now_us - cfg_.ttl_us) break;
    emit_oldest(out);
    stats_.expired++;
  }
}

void correlator::drain(std::vector<exchange>& out) {
  while (!order_.empty()) {
    emit_oldest(out);
    stats_.drained++;
  }
}

}  // namespace correlate
