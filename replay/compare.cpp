// SPDX-License-Identifier: Apache-2.0
#include "replay/compare.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <charconv>

#include "replay/request.h"

namespace replay {

namespace {

namespace dom = simdjson::dom;
using seg = json_path_pattern::segment;

constexpr std::string_view redacted = "[REDACTED]";

std::string joined(const std::vector<header>& hs, std::string_view name, bool& present) {
  std::string out;
  present = false;
  for (const auto& h : hs) {
    if (!iequals(h.name, name)) continue;
    if (present) out += ", ";
    out += h.value;
    present = true;
  }
  return out;
}

std::string path_text(const std::vector<seg>& path) {
  std::string out;
  for (const auto& s : path) {
    if (s.k == seg::kind::index) {
      fmt::format_to(std::back_inserter(out), "[{}]", s.index);
    } else {
      if (!out.empty()) out += '.';
      out += s.key;
    }
  }
  return out;
}

struct json_differ {
  const compare_options& opts;
  std::vector<difference>& out;
  std::vector<seg> path;

  bool ignored() const {
    for (const auto& p : opts.ignore) {
      if (p.covers(path)) return true;
    }
    return false;
  }

  void add(std::optional<dom::element> a, std::optional<dom::element> b) {
    if (out.size() >= max_differences) return;
    difference d{difference_kind::json, path_text(path), {}, {}, a.has_value(), b.has_value()};
    if (a) d.expected = simdjson::minify(*a);
    if (b) d.actual = simdjson::minify(*b);
    out.push_back(std::move(d));
  }

  static bool same_scalar(dom::element a, dom::element b) {
    using t = dom::element_type;
    const auto ta = a.type(), tb = b.type();
    const bool na = ta == t::INT64 || ta == t::UINT64 || ta == t::DOUBLE;
    const bool nb = tb == t::INT64 || tb == t::UINT64 || tb == t::DOUBLE;
    if (na && nb) {
      if (ta == tb && ta == t::INT64) return std::int64_t(a) == std::int64_t(b);
      if (ta == tb && ta == t::UINT64) return std::uint64_t(a) == std::uint64_t(b);
      double x = 0, y = 0;
      return !a.get_double().get(x) && !b.get_double().get(y) && x == y;
    }
    if (ta != tb) return false;
    switch (ta) {
      case t::STRING:
        return std::string_view(a) == std::string_view(b);
      case t::BOOL:
        return bool(a) == bool(b);
      case t::NULL_VALUE:
        return true;
      default:
        return false;
    }
  }

  void walk(dom::element a, dom::element b) {
    if (out.size() >= max_differences || ignored()) return;
    std::string_view s;
    if (!a.get_string().get(s) && s == redacted) return;
    using t = dom::element_type;
    if (a.type() == t::OBJECT && b.type() == t::OBJECT) {
      dom::object oa = a, ob = b;
      for (auto [k, va] : oa) {
        path.push_back({seg::kind::key, std::string(k), 0});
        dom::element vb;
        if (ob.at_key(k).get(vb)) {
          if (!ignored()) add(va, std::nullopt);
        } else {
          walk(va, vb);
        }
        path.pop_back();
      }
      for (auto [k, vb] : ob) {
        dom::element va;
        if (!oa.at_key(k).get(va)) continue;
        path.push_back({seg::kind::key, std::string(k), 0});
        if (!ignored()) add(std::nullopt, vb);
        path.pop_back();
      }
    } else if (a.type() == t::ARRAY && b.type() == t::ARRAY) {
      dom::array aa = a, ab = b;
      const std::size_t na = aa.size(), nb = ab.size();
      for (std::size_t i = 0; i < std::max(na, nb); ++i) {
        path.push_back({seg::kind::index, {}, i});
        if (i < na && i < nb) {
          walk(aa.at(i).value_unsafe(), ab.at(i).value_unsafe());
        } else if (!ignored()) {
          if (i < na)
            add(aa.at(i).value_unsafe(), std::nullopt);
          else
            add(std::nullopt, ab.at(i).value_unsafe());
        }
        path.pop_back();
      }
    } else if (!same_scalar(a, b)) {
      add(a, b);
    }
  }
};

}  // namespace

std::optional<json_path_pattern> json_path_pattern::parse(std::string_view text,
                                                          std::string& error) {
  json_path_pattern p;
  if (text.empty()) {
    error = "empty path";
    return std::nullopt;
  }
  std::size_t i = 0;
  bool expect_key = text.front() != '[';
  while (i < text.size()) {
    if (expect_key) {
      const auto end = text.find_first_of(".[]", i);
      const auto key = text.substr(i, end == std::string_view::npos ? end : end - i);
      if (key.empty()) {
        error = fmt::format("empty key at offset {}", i);
        return std::nullopt;
      }
      p.segs_.push_back({key == "*" ? seg::kind::any_key : seg::kind::key, std::string(key), 0});
      i += key.size();
      expect_key = false;
    } else if (text[i] == '[') {
      const auto close = text.find(']', i);
      if (close == std::string_view::npos) {
        error = fmt::format("unclosed '[' at offset {}", i);
        return std::nullopt;
      }
      const auto inside = text.substr(i + 1, close - i - 1);
      if (inside.empty()) {
        p.segs_.push_back({seg::kind::any_index, {}, 0});
      } else {
        std::size_t n = 0;
        const auto [ptr, ec] = std::from_chars(inside.data(), inside.data() + inside.size(), n);
        if (ec != std::errc() || ptr != inside.data() + inside.size()) {
          error = fmt::format("expected [] or [N] at offset {}", i);
          return std::nullopt;
        }
        p.segs_.push_back({seg::kind::index, {}, n});
      }
      i = close + 1;
    } else if (text[i] == '.' && i + 1 < text.size()) {
      ++i;
      expect_key = true;
    } else {
      error = fmt::format("unexpected '{}' at offset {}", text[i], i);
      return std::nullopt;
    }
  }
  return p;
}

bool json_path_pattern::covers(const std::vector<segment>& path) const {
  if (segs_.size() > path.size()) return false;
  for (std::size_t i = 0; i < segs_.size(); ++i) {
    const auto& p = segs_[i];
    const auto& s = path[i];
    const bool is_index = s.k == segment::kind::index;
    switch (p.k) {
      case segment::kind::key:
        if (is_index || p.key != s.key) return false;
        break;
      case segment::kind::any_key:
        if (is_index) return false;
        break;
      case segment::kind::index:
        if (!is_index || p.index != s.index) return false;
        break;
      case segment::kind::any_index:
        if (!is_index) return false;
        break;
    }
  }
  return true;
}

std::vector<difference> compare(const captured_response& captured, const received_response& got,
                                const compare_options& opts) {
  std::vector<difference> out;
  if (captured.status != got.status) {
    out.push_back({difference_kind::status,
                   {},
                   std::to_string(captured.status),
                   std::to_string(got.status),
                   true,
                   true});
  }
  for (const auto& name : opts.headers) {
    bool had = false, has = false;
    const auto a = joined(captured.headers, name, had);
    const auto b = joined(got.headers, name, has);
    if (a == redacted || (had == has && a == b)) continue;
    std::string lname;
    for (char c : name) lname += c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    out.push_back({difference_kind::header, lname, a, b, had, has});
  }
  if (!opts.body || !captured.body_captured) return out;
  if (!captured.truncated) {
    dom::parser pa, pb;
    dom::element ja, jb;
    if (!captured.body.empty() && !got.body.empty() && !pa.parse(captured.body).get(ja) &&
        !pb.parse(got.body).get(jb)) {
      json_differ d{opts, out, {}};
      d.walk(ja, jb);
      return out;
    }
  }
  const bool same =
      captured.truncated ? got.body.starts_with(captured.body) : got.body == captured.body;
  if (!same) out.push_back({difference_kind::body, {}, captured.body, got.body, true, true});
  return out;
}

}  // namespace replay
