# The Python module (python/rpcload/, docs/python.md): installed as a pure
# package into PREFIX/${RPCLOAD_PYTHON_DIR}/rpcload, Debian's layout, where
# /usr/bin/python3 finds it for PREFIX=/usr (elsewhere: PYTHONPATH).
#
# The package finds librpcload from its own folder: _installed.py, written
# here, holds the path from the package to the library's directory
# (relative when both are under the prefix, so the prefix given to
# `cmake --install --prefix` at install time is the one it reads).
set(RPCLOAD_PYTHON_DIR "lib/python3/dist-packages" CACHE STRING
    "Where `cmake --install` puts the rpcload Python package (under the prefix unless absolute)")

set(rl_py_pkg "${RPCLOAD_PYTHON_DIR}/rpcload")
if(IS_ABSOLUTE "${rl_py_pkg}" OR IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  # One of them is outside the prefix: the library's directory as it is.
  set(rl_py_libdir "${CMAKE_INSTALL_FULL_LIBDIR}")
else()
  file(RELATIVE_PATH rl_py_libdir "/P/${rl_py_pkg}" "/P/${CMAKE_INSTALL_LIBDIR}")
endif()
file(WRITE "${CMAKE_BINARY_DIR}/python/_installed.py"
     "# Written by cmake/python.cmake at configure time: the library's directory\n"
     "# from this package's folder (rpcload/_lib.py reads it).\n"
     "LIBDIR_FROM_PACKAGE = \"${rl_py_libdir}\"\n")

install(DIRECTORY "${CMAKE_SOURCE_DIR}/python/rpcload/"
        DESTINATION "${rl_py_pkg}"
        FILES_MATCHING PATTERN "*.py"
        PATTERN "__pycache__" EXCLUDE)
install(FILES "${CMAKE_BINARY_DIR}/python/_installed.py" DESTINATION "${rl_py_pkg}")
