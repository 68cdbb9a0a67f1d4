// SPDX-License-Identifier: Apache-2.0
//
// The web viewer: the files of ui/ (index.html, app.js, style.css), compiled into the binary
// by cmake/embed_assets.cmake, so that it works offline and with nothing to install. The page
// itself is served without a token; every data call it makes carries one when the API has one.
//
//   GET /, GET /ui, GET /ui/, GET /ui/index.html   the page (text/html)
//   GET /ui/app.js, GET /ui/style.css              its script and style
//
// Every answer has an ETag (a hash of the file), `Cache-Control: no-cache` (the browser keeps
// the file and asks again each time: a new binary never serves a stale page), and
// `X-Content-Type-Options: nosniff`; If-None-Match with the current ETag gets a 304 with no
// body. The page also gets a Content-Security-Policy that allows only its own script and
// style and fetches to its own origin, and `Referrer-Policy: no-referrer`.
#pragma once

#include <cstddef>
#include <string_view>

#include "api/http.h"

namespace api {

struct ui_asset {
  std::string_view path;          // "/ui/app.js"
  std::string_view content_type;  // "text/javascript; charset=utf-8"
  std::string_view etag;          // with its quotes: "\"0123456789abcdef\""
  std::string_view body;          // static storage
};

// The asset served at `path` (as requested, before any '?'), or nullptr.
const ui_asset* find_ui_asset(std::string_view path);

// 200 with the asset and the headers above, or 304 when `if_none_match` (the request's
// If-None-Match) lists its ETag or is "*".
response ui_response(const ui_asset& a, std::string_view if_none_match);

namespace detail {
// Defined by the generated file (cmake/embed_assets.cmake), one entry per file of ui/.
extern const ui_asset ui_assets[];
extern const std::size_t ui_asset_count;
}  // namespace detail

}  // namespace api
