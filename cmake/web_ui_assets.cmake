# The web UI's page (src/web/assets/{index.html,app.js,style.css}, served by src/web/ui.c),
# embedded into rpcload_core as C strings at build time by the rule the
# HTML report uses (rl_embed_text, cmake/report_html_assets.cmake), so the
# UI needs nothing but the rpcload binary. uPlot is the report's own copy
# (rl__uplot_js, rl__uplot_css): one pinned npm package for both.
#
# The files are served as files of their own, not inlined into a page, so
# nothing needs to be kept out of them.
#
# Usage, after cmake/report_html_assets.cmake:  include(cmake/web_ui_assets.cmake)

set(rl_web_gen "${CMAKE_BINARY_DIR}/gen/web_ui")
file(MAKE_DIRECTORY "${rl_web_gen}")
rl_embed_text(rl__web_ui_html "${CMAKE_SOURCE_DIR}/src/web/assets/index.html" "")
rl_embed_text(rl__web_ui_js "${CMAKE_SOURCE_DIR}/src/web/assets/app.js" "")
rl_embed_text(rl__web_ui_css "${CMAKE_SOURCE_DIR}/src/web/assets/style.css" "")
