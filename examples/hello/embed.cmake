# Writes a binary file into a C source as a byte array, at build time:
#   cmake -DIN=file.pb -DOUT=file.c -DNAME=symbol -P embed.cmake
# defines `const unsigned char NAME[]` and `const size_t NAME_len`.
# CMake itself does the conversion, so the build needs no xxd and no
# assembler tricks (.incbin), and C11 has no #embed.
if(NOT DEFINED IN OR NOT DEFINED OUT OR NOT DEFINED NAME)
  message(FATAL_ERROR "usage: cmake -DIN=file -DOUT=file.c -DNAME=symbol -P embed.cmake")
endif()
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" nhex)
math(EXPR nbytes "${nhex} / 2")
if(nbytes EQUAL 0)
  message(FATAL_ERROR "embed.cmake: ${IN} is empty")
endif()
# "0a1b..." -> "0x0a,0x1b,...", sixteen bytes a line.
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){16})" "\\1\n  " bytes "${bytes}")
get_filename_component(src "${IN}" NAME)
file(WRITE "${OUT}"
"/* Generated at build time by embed.cmake from ${src}: do not edit. */
#include <stddef.h>

extern const unsigned char ${NAME}[];
extern const size_t ${NAME}_len;

const unsigned char ${NAME}[] = {
  ${bytes}
};
const size_t ${NAME}_len = ${nbytes};
")
