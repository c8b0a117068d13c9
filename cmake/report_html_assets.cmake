# The HTML report's browser code (src/report/html.c), embedded into the
# rpcload_core library as C strings at build time, so that a report is one
# file that opens from disk with no network:
#   rl__uplot_js, rl__uplot_css, rl__uplot_license   uPlot, from npm
#   rl__uplot_version                                its version ("1.6.32")
#   rl__report_js, rl__report_css                    src/report/assets/report.{js,css}
#
# uPlot is a third-party npm package, never committed here. package.json
# pins its version and package-lock.json its integrity hash (sha512, the
# registry's dist.integrity); scripts/setup.sh runs `npm ci`, which fetches
# it into node_modules/ at the repo root and checks that hash. Configuring
# without it, or with another version or hash than the lock names, stops
# with what to run: a build without the report would fail only later, at
# `rpcload --html`.
#
# Usage, after rpcload_core exists:  include(cmake/report_html_assets.cmake)

set(rl_web_root "${CMAKE_SOURCE_DIR}")
set(rl_uplot_dir "${rl_web_root}/node_modules/uplot")
set(rl_npm_lock "${rl_web_root}/package-lock.json")
set(rl_npm_installed_lock "${rl_web_root}/node_modules/.package-lock.json")

# Configure again when the pin changes or npm installs something else.
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
  "${rl_web_root}/package.json" "${rl_npm_lock}")
if(EXISTS "${rl_npm_installed_lock}")
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
    "${rl_npm_installed_lock}")
endif()

file(READ "${rl_npm_lock}" rl_lock_json)
string(JSON rl_uplot_version GET "${rl_lock_json}" packages node_modules/uplot version)
string(JSON rl_uplot_integrity GET "${rl_lock_json}" packages node_modules/uplot integrity)

# What npm installed: its own record (node_modules/.package-lock.json, kept
# by npm ci and npm install) must name the same version and hash.
set(rl_uplot_problem "")
if(NOT EXISTS "${rl_uplot_dir}/package.json" OR NOT EXISTS "${rl_npm_installed_lock}")
  set(rl_uplot_problem "node_modules/uplot is missing")
else()
  file(READ "${rl_npm_installed_lock}" rl_installed_json)
  string(JSON rl_have_version ERROR_VARIABLE rl_json_err
         GET "${rl_installed_json}" packages node_modules/uplot version)
  string(JSON rl_have_integrity ERROR_VARIABLE rl_json_err
         GET "${rl_installed_json}" packages node_modules/uplot integrity)
  file(READ "${rl_uplot_dir}/package.json" rl_uplot_pkg_json)
  string(JSON rl_pkg_version ERROR_VARIABLE rl_json_err
         GET "${rl_uplot_pkg_json}" version)
  if(NOT rl_have_version STREQUAL rl_uplot_version
     OR NOT rl_pkg_version STREQUAL rl_uplot_version)
    set(rl_uplot_problem
      "node_modules/ holds uplot ${rl_pkg_version}, package-lock.json pins ${rl_uplot_version}")
  elseif(NOT rl_have_integrity STREQUAL rl_uplot_integrity)
    set(rl_uplot_problem
      "node_modules/uplot was not installed from the tarball package-lock.json pins (integrity ${rl_have_integrity}, want ${rl_uplot_integrity})")
  endif()
endif()
if(rl_uplot_problem)
  message(FATAL_ERROR
    "The HTML report embeds uPlot ${rl_uplot_version} from npm, and ${rl_uplot_problem}.\n"
    "Run scripts/setup.sh (or `npm ci` in ${rl_web_root}), then configure again.\n"
    "To build and install only the plugin SDK (no rpcload, no web assets), "
    "configure with -DRPCLOAD_SDK_ONLY=ON.")
endif()
message(STATUS "HTML report: uPlot ${rl_uplot_version} (${rl_uplot_integrity})")

set(rl_web_gen "${CMAKE_BINARY_DIR}/gen/report_html")
file(MAKE_DIRECTORY "${rl_web_gen}")
set(rl_embed "${CMAKE_SOURCE_DIR}/cmake/embed_text.cmake")

# rl_embed_text(SYMBOL INPUT FORBID): a build-time rule making
# ${rl_web_gen}/SYMBOL.c from INPUT; the source is added to rpcload_core.
function(rl_embed_text symbol input forbid)
  set(out "${rl_web_gen}/${symbol}.c")
  add_custom_command(
    OUTPUT "${out}"
    COMMAND ${CMAKE_COMMAND} "-DIN=${input}" "-DOUT=${out}" "-DNAME=${symbol}"
            "-DFORBID=${forbid}" -P "${rl_embed}"
    DEPENDS "${input}" "${rl_embed}"
    COMMENT "Embedding ${input}"
    VERBATIM)
  target_sources(rpcload_core PRIVATE "${out}")
endfunction()

# Inside <script>: nothing that ends the element, or opens an HTML comment
# or another script there (either changes how the browser finds the end).
# Inside <style>: nothing that ends it. The license goes into a /* */
# comment in the script.
set(rl_script_forbid "</script|<script|<!--")
rl_embed_text(rl__uplot_js "${rl_uplot_dir}/dist/uPlot.iife.min.js" "${rl_script_forbid}")
rl_embed_text(rl__uplot_css "${rl_uplot_dir}/dist/uPlot.min.css" "</style")
rl_embed_text(rl__uplot_license "${rl_uplot_dir}/LICENSE" "${rl_script_forbid}|*/")
rl_embed_text(rl__report_js "${CMAKE_SOURCE_DIR}/src/report/assets/report.js" "${rl_script_forbid}")
rl_embed_text(rl__report_css "${CMAKE_SOURCE_DIR}/src/report/assets/report.css" "</style")

if(NOT rl_uplot_version MATCHES "^[0-9A-Za-z.+-]+$")
  message(FATAL_ERROR "package-lock.json: odd uplot version '${rl_uplot_version}'")
endif()
file(CONFIGURE OUTPUT "${rl_web_gen}/rl__uplot_version.c" CONTENT
"/* Generated by cmake/report_html_assets.cmake from package-lock.json. */
extern const char rl__uplot_version[];
const char rl__uplot_version[] = \"@rl_uplot_version@\";
" @ONLY)
target_sources(rpcload_core PRIVATE "${rl_web_gen}/rl__uplot_version.c")
