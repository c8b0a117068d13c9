# -DRPCLOAD_FUZZ=ON: the whole tree is compiled for libFuzzer, so that the
# parsers the targets reach (in the core and in the dlopen'd plugins) give
# coverage feedback, under AddressSanitizer and UBSan. Only the fuzz
# targets themselves link libFuzzer's main (tests/fuzz/CMakeLists.txt).
# A separate build folder (build-fuzz/): its binaries are for fuzzing only.
if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR
    "RPCLOAD_FUZZ needs clang (libFuzzer): configure a new build folder with "
    "-DCMAKE_C_COMPILER=clang (Debian: clang-14, libclang-rt-14-dev)")
endif()
if(RPCLOAD_SANITIZE)
  message(FATAL_ERROR "RPCLOAD_FUZZ already builds with ASan and UBSan: "
                      "leave RPCLOAD_SANITIZE off")
endif()
add_compile_options(-fsanitize=fuzzer-no-link,address,undefined
                    -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
add_link_options(-fsanitize=address,undefined)
# The tree is kept warning-free under gcc (-Werror there); clang warns of a
# few things gcc does not, which must not stop the fuzzers. Their own files
# keep -Werror (tests/fuzz/CMakeLists.txt).
add_compile_options(-Wno-error)
# The default build type's flags, for fuzzing: -O1 (libFuzzer's advice, and
# quicker to build than -O2), line tables for the sanitizers' stack traces,
# and assert() kept (no NDEBUG): a failed assertion is a finding.
set(CMAKE_C_FLAGS_RELWITHDEBINFO "-O1 -gline-tables-only")
