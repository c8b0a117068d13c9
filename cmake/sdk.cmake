# The plugin SDK: <rpcload/plugin.h> and <rpcload/listener.h>, the test host (<rpcload/fake_host.h>
# and librpcload-testhost.a) and rpcload-plugin.pc. Included by the top
# CMakeLists.txt in every configuration, also RPCLOAD_SDK_ONLY: it needs a C
# compiler and nothing else.
install(FILES ${CMAKE_SOURCE_DIR}/include/rpcload/plugin.h
              ${CMAKE_SOURCE_DIR}/include/rpcload/listener.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/rpcload)

# ---- the plugin SDK's pkg-config file -------------------------------------
# `pkg-config --cflags rpcload-plugin` and `--variable=plugindir`. Written at
# install time, so that it names the prefix the files actually went to
# (`cmake --install build --prefix P`), not only the configured one.
# (A relative LIBDIR/INCLUDEDIR hangs off ${prefix}; an absolute one is kept.)
foreach(dir LIBDIR INCLUDEDIR)
  set(RL_PC_${dir} "\${prefix}/${CMAKE_INSTALL_${dir}}")
  set(RL_PC_${dir}_DEST "\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_${dir}}")
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${dir}}")
    set(RL_PC_${dir} "${CMAKE_INSTALL_${dir}}")
    set(RL_PC_${dir}_DEST "${CMAKE_INSTALL_${dir}}")
  endif()
endforeach()
install(CODE "
  set(RL_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  set(RL_PC_LIBDIR [=[${RL_PC_LIBDIR}]=])
  set(RL_PC_INCLUDEDIR [=[${RL_PC_INCLUDEDIR}]=])
  set(RL_PC_VERSION \"${PROJECT_VERSION}\")
  string(RANDOM LENGTH 12 rl_pc_tag) # concurrent installs must not collide
  set(rl_pc_dir \"${CMAKE_BINARY_DIR}/pkgconfig-\${rl_pc_tag}\")
  configure_file(\"${CMAKE_SOURCE_DIR}/rpcload-plugin.pc.in\"
                 \"\${rl_pc_dir}/rpcload-plugin.pc\" @ONLY)
  file(INSTALL DESTINATION \"${RL_PC_LIBDIR_DEST}/pkgconfig\"
       TYPE FILE FILES \"\${rl_pc_dir}/rpcload-plugin.pc\")
  file(REMOVE_RECURSE \"\${rl_pc_dir}\")
")

# ---- the test host (installed for plugin authors) --------------------------
# <rpcload/fake_host.h> and librpcload-testhost.a: the host a codec's unit
# tests play, without sockets (the in-tree codec tests use the same
# kit/fake_host.c, linked with the core instead). It carries its own copy
# of the core's templates and nothing else of rpcload.
add_library(rpcload_testhost STATIC ${CMAKE_SOURCE_DIR}/kit/fake_host.c
  ${CMAKE_SOURCE_DIR}/src/engine/template.c ${CMAKE_SOURCE_DIR}/src/base/buf.c
  ${CMAKE_SOURCE_DIR}/src/base/units.c)
target_include_directories(rpcload_testhost
  PUBLIC ${CMAKE_SOURCE_DIR}/include PRIVATE ${CMAKE_SOURCE_DIR}/src)
set_target_properties(rpcload_testhost PROPERTIES
  OUTPUT_NAME rpcload-testhost POSITION_INDEPENDENT_CODE ON)
install(TARGETS rpcload_testhost ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES ${CMAKE_SOURCE_DIR}/include/rpcload/fake_host.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/rpcload)

