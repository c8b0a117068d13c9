# librpcload's pkg-config file (rpcload.pc), written at install time like
# rpcload-plugin.pc (cmake/sdk.cmake, whose RL_PC_* paths it reuses) so
# that it names the prefix the files went to.
install(CODE "
  set(RL_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  set(RL_PC_LIBDIR [=[${RL_PC_LIBDIR}]=])
  set(RL_PC_INCLUDEDIR [=[${RL_PC_INCLUDEDIR}]=])
  set(RL_PC_VERSION \"${PROJECT_VERSION}\")
  string(RANDOM LENGTH 12 rl_pc_tag)
  set(rl_pc_dir \"${CMAKE_BINARY_DIR}/pkgconfig-lib-\${rl_pc_tag}\")
  configure_file(\"${CMAKE_SOURCE_DIR}/rpcload.pc.in\"
                 \"\${rl_pc_dir}/rpcload.pc\" @ONLY)
  file(INSTALL DESTINATION \"${RL_PC_LIBDIR_DEST}/pkgconfig\"
       TYPE FILE FILES \"\${rl_pc_dir}/rpcload.pc\")
  file(REMOVE_RECURSE \"\${rl_pc_dir}\")
")
