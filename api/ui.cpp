// SPDX-License-Identifier: Apache-2.0
#include "api/ui.h"

#include <span>

namespace api {

namespace {

constexpr std::string_view index_path = "/ui/index.html";

// Only what the page needs: its own script, style and API; no inline code, no framing.
// `img-src data:` is for the empty favicon, which spares a 404 per page load.
constexpr std::string_view page_policy =
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

// RFC 9110 13.1.2: a comma-separated list of entity tags (weak ones compare weakly), or "*".
bool etag_listed(std::string_view list, std::string_view etag) {
  while (!list.empty()) {
    const auto comma = list.find(',');
    auto tag = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    while (!tag.empty() && (tag.front() == ' ' || tag.front() == '\t')) tag.remove_prefix(1);
    while (!tag.empty() && (tag.back() == ' ' || tag.back() == '\t')) tag.remove_suffix(1);
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    if (tag == "*" || tag == etag) return true;
  }
  return false;
}

}  // namespace

const ui_asset* find_ui_asset(std::string_view path) {
  if (path == "/" || path == "/ui" || path == "/ui/") path = index_path;
  for (const auto& a : std::span(detail::ui_assets, detail::ui_asset_count)) {
    if (a.path == path) return &a;
  }
  return nullptr;
}

response ui_response(const ui_asset& a, std::string_view if_none_match) {
  response r;
  r.headers.emplace_back("ETag", std::string(a.etag));
  r.headers.emplace_back("Cache-Control", "no-cache");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  if (a.path == index_path) {
    r.headers.emplace_back("Content-Security-Policy", std::string(page_policy));
    r.headers.emplace_back("Referrer-Policy", "no-referrer");
  }
  if (!if_none_match.empty() && etag_listed(if_none_match, a.etag)) {
    r.status = 304;
    r.content_type.clear();
    return r;
  }
  r.content_type = a.content_type;
  r.body = a.body;
  return r;
}

}  // namespace api
