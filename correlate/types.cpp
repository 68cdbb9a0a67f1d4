// SPDX-License-Identifier: Apache-2.0
#include "correlate/types.h"

namespace correlate {

std::string_view to_string(source s) {
  switch (s) {
    case source::spop:
      return "spop";
    case source::http:
      return "http";
  }
  return "unknown";
}

std::string_view to_string(half_kind k) {
  return k == half_kind::request ? "request" : "response";
}

namespace {

std::size_t headers_bytes(const std::vector<header>& hs) {
  std::size_t n = hs.capacity() * sizeof(header);
  for (const auto& [name, value] : hs) n += name.capacity() + value.capacity();
  return n;
}

}  // namespace

std::size_t approx_bytes(const request_half& r) {
  return r.method.capacity() + r.path.capacity() + (r.query ? r.query->capacity() : 0) +
         r.version.capacity() + headers_bytes(r.headers) + r.body.data.capacity() +
         r.client_ip.capacity() + r.frontend.capacity();
}

std::size_t approx_bytes(const response_half& s) {
  return s.version.capacity() + headers_bytes(s.headers) + s.body.data.capacity() +
         s.backend.capacity() + s.server.capacity();
}

std::size_t approx_bytes(const std::vector<extra_field>& extra) {
  std::size_t n = 0;
  for (const auto& [name, v] : extra) {
    n += sizeof(extra_field) + name.capacity();
    if (const auto* str = std::get_if<std::string>(&v)) n += str->capacity();
  }
  return n;
}

std::size_t event::approx_bytes() const {
  return sizeof(event) + id.capacity() +
         std::visit([](const auto& h) { return correlate::approx_bytes(h); }, half) +
         correlate::approx_bytes(extra);
}

std::size_t exchange::approx_bytes() const {
  std::size_t n = sizeof(exchange) + id.capacity() + correlate::approx_bytes(extra);
  if (request) n += correlate::approx_bytes(*request);
  if (response) n += correlate::approx_bytes(*response);
  for (const auto& r : redacted) n += sizeof(std::string) + r.capacity();
  return n;
}

}  // namespace correlate
