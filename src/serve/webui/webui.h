// The chat page served at GET / (src/serve/webui/index.html: one self-contained
// file, inline CSS and JS, no network fetches besides the server's own API).
// The bytes are embedded at build time by cmake/embed_file.cmake; the
// definition lives in ${build}/generated/webui_index_html.cpp.
#pragma once

#include <string_view>

namespace deepcpu {

// The page as UTF-8 HTML; valid for the life of the process. Serve it with
// Content-Type: text/html; charset=utf-8.
std::string_view webui_index_html();

}  // namespace deepcpu
