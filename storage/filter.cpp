// SPDX-License-Identifier: Apache-2.0
#include "storage/filter.h"

#include <simdjson.h>

#include <array>

#include "storage/json.h"
#include "storage/ondemand.h"

namespace storage {

namespace od = simdjson::ondemand;

namespace {

using detail::iequals;

bool host_matches(std::string_view want, std::string_view have) {
  if (iequals(want, have)) return true;
  // "shop.local" also matches "shop.local:8080", unless the filter names a port itself.
  if (want.find(':') == std::string_view::npos && have.size() > want.size() &&
      have[want.size()] == ':' && have.find(']') == std::string_view::npos) {
    return iequals(want, have.substr(0, want.size()));
  }
  return false;
}

bool is_null(od::value& v) {
  od::json_type t;
  return !v.type().get(t) && t == od::json_type::null;
}

}  // namespace

bool filter::empty() const {
  return !since_us && !until_us && method.empty() && status == 0 && status_class == 0 &&
         path.empty() && host.empty() && id.empty() && route.empty() && !complete;
}

namespace {

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool is_identifier(std::string_view seg) {
  if (seg.empty()) return false;
  std::size_t digits = 0, hex = 0;
  for (char c : seg) {
    if (c >= '0' && c <= '9') ++digits;
    if (is_hex(c)) ++hex;
  }
  if (digits == seg.size()) return true;
  if (seg.size() == 36) {
    for (std::size_t i = 0; i < seg.size(); ++i) {
      const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
      if (dash ? seg[i] != '-' : !is_hex(seg[i])) return false;
    }
    return true;
  }
  return hex == seg.size() && seg.size() >= 16 && digits > 0;
}

}  // namespace

std::string fold_route(std::string_view path) {
  std::string out;
  out.reserve(path.size());
  std::size_t pos = 0;
  while (pos <= path.size()) {
    const auto slash = path.find('/', pos);
    const auto end = slash == std::string_view::npos ? path.size() : slash;
    const auto seg = path.substr(pos, end - pos);
    out += is_identifier(seg) ? std::string_view("{id}") : seg;
    if (slash == std::string_view::npos) break;
    out += '/';
    pos = slash + 1;
  }
  return out;
}

bool glob_match(std::string_view glob, std::string_view s) {
  // Iterative wildcard matching with one backtrack point: linear in practice, never
  // exponential.
  std::size_t g = 0, i = 0;
  std::size_t star = std::string_view::npos, mark = 0;
  while (i < s.size()) {
    if (g < glob.size() && glob[g] != '*' && glob[g] == s[i]) {
      ++g;
      ++i;
    } else if (g < glob.size() && glob[g] == '*') {
      star = g++;
      mark = i;
    } else if (star != std::string_view::npos) {
      g = star + 1;
      i = ++mark;
    } else {
      return false;
    }
  }
  while (g < glob.size() && glob[g] == '*') ++g;
  return g == glob.size();
}

struct record_matcher::impl {
  filter f;
  std::string since;  // canonical RFC 3339 (what the writer writes): compare as strings
  std::string until;
  bool needs_request = false;
  bool needs_response = false;
  od::parser parser;

  explicit impl(filter flt) : f(std::move(flt)) {
    if (f.since_us) append_rfc3339(*f.since_us, since);
    if (f.until_us) append_rfc3339(*f.until_us, until);
    needs_request = !f.method.empty() || !f.path.empty() || !f.route.empty() ||
                    !f.host.empty() || f.since_us || f.until_us;
    needs_response = f.status != 0 || f.status_class != 0 || f.since_us || f.until_us;
  }

  bool time_ok(std::string_view t) const {
    // Same fixed-width format on both sides, so byte order is time order.
    if (!since.empty() && t < since) return false;
    if (!until.empty() && t > until) return false;
    return true;
  }

  bool path_ok(std::string_view p) const {
    if (!f.route.empty() && fold_route(p) != f.route) return false;
    if (f.path.empty()) return true;
    if (f.path.find('*') != std::string::npos) return glob_match(f.path, p);
    return p.starts_with(f.path);
  }

  // Request checks; `time_checked` is set when the time filter was decided here.
  bool request_ok(od::object& rq) {
    std::string_view s;
    if (!since.empty() || !until.empty()) {
      if (rq.find_field("time").get_string().get(s) || !time_ok(s)) return false;
    }
    if (!f.method.empty()) {
      if (rq.find_field("method").get_string().get(s) || s != f.method) return false;
    }
    if (!f.path.empty() || !f.route.empty()) {
      if (rq.find_field("path").get_string().get(s) || !path_ok(s)) return false;
    }
    if (!f.host.empty()) {
      std::optional<std::string_view> host;
      return detail::first_header(rq, "host", host) && host && host_matches(f.host, *host);
    }
    return true;
  }

  bool match(std::string_view line, std::size_t capacity) {
    od::document doc;
    if (parser.iterate(simdjson::padded_string_view(line.data(), line.size(), capacity)).get(doc)) {
      return false;
    }
    if (!f.id.empty()) {
      std::string_view id;
      if (doc.find_field("id").get_string().get(id) || id != f.id) return false;
    }
    if (f.complete) {
      bool c = false;
      if (doc.find_field("complete").get_bool().get(c) || c != *f.complete) return false;
    }
    if (!needs_request && !needs_response) return true;

    bool have_request = false;
    {
      od::value rqv;
      if (doc.find_field("request").get(rqv)) return false;
      if (!is_null(rqv)) {
        have_request = true;
        od::object rq;
        if (rqv.get_object().get(rq) || !request_ok(rq)) return false;
      } else if (!f.method.empty() || !f.path.empty() || !f.route.empty() || !f.host.empty()) {
        return false;
      }
    }
    const bool time_pending = !have_request && (!since.empty() || !until.empty());
    if (f.status == 0 && f.status_class == 0 && !time_pending) return true;

    od::value rsv;
    if (doc.find_field("response").get(rsv) || is_null(rsv)) return false;
    od::object rs;
    if (rsv.get_object().get(rs)) return false;
    if (time_pending) {
      std::string_view t;
      if (rs.find_field("time").get_string().get(t) || !time_ok(t)) return false;
    }
    if (f.status != 0 || f.status_class != 0) {
      std::int64_t st = 0;
      if (rs.find_field("status").get_int64().get(st)) return false;
      if (f.status != 0 && st != f.status) return false;
      if (f.status_class != 0 && st / 100 != f.status_class) return false;
    }
    return true;
  }
};

record_matcher::record_matcher(filter f) : impl_(std::make_unique<impl>(std::move(f))) {}
record_matcher::~record_matcher() = default;
record_matcher::record_matcher(record_matcher&&) noexcept = default;

bool record_matcher::operator()(std::string_view line, std::size_t capacity) {
  return impl_->match(line, capacity);
}

namespace {

// Reads exactly `n` digits at `pos`; -1 when they are not all digits.
int digits(std::string_view s, std::size_t pos, std::size_t n) {
  if (pos + n > s.size()) return -1;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

// days_from_civil, H. Hinnant, "chrono-Compatible Low-Level Date Algorithms".
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

}  // namespace

std::optional<std::int64_t> parse_rfc3339(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)
  if (s.size() < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
      s[13] != ':' || s[16] != ':') {
    return std::nullopt;
  }
  const int y = digits(s, 0, 4), mo = digits(s, 5, 2), d = digits(s, 8, 2);
  const int h = digits(s, 11, 2), mi = digits(s, 14, 2), sec = digits(s, 17, 2);
  if (y < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 ||
      sec > 60) {
    return std::nullopt;
  }
  static constexpr std::array<int, 12> month_days = {31, 29, 31, 30, 31, 30,
                                                     31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (d > month_days[static_cast<std::size_t>(mo - 1)] || (mo == 2 && d == 29 && !leap)) {
    return std::nullopt;
  }
  std::size_t pos = 19;
  std::int64_t frac_us = 0;
  if (s[pos] == '.') {
    ++pos;
    const std::size_t start = pos;
    std::int64_t scale = 100000;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      frac_us += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start) return std::nullopt;
  }
  if (pos >= s.size()) return std::nullopt;
  std::int64_t offset_s = 0;
  if (s[pos] == 'Z' || s[pos] == 'z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    const int oh = digits(s, pos + 1, 2), om = digits(s, pos + 4, 2);
    if (oh < 0 || om < 0 || oh > 23 || om > 59 || pos + 3 >= s.size() || s[pos + 3] != ':') {
      return std::nullopt;
    }
    offset_s = (oh * 3600 + om * 60) * (s[pos] == '+' ? 1 : -1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  const std::int64_t days = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  const std::int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - offset_s;
  return secs * 1'000'000 + frac_us;
}

}  // namespace storage
