# Writes a text file into a C source as a NUL-terminated char array, at build
# time:
#   cmake -DIN=file.js -DOUT=file.c -DNAME=symbol [-DFORBID=a|b] -P embed_text.cmake
# defines `const char NAME[]` (the file's bytes, then a NUL, so it is a C
# string) and `const size_t NAME_len` (its length without the NUL).
#
# FORBID: substrings separated by '|' that must not occur in the file, any
# case; the build fails naming the one found. Text that goes into an HTML
# <script> or <style> element uses it for "</script" and "</style", which
# would end the element early.
#
# The file must not be empty nor hold a NUL byte. CMake does the conversion
# (a byte array, not a string literal: C11 compilers need only accept string
# literals of 4095 characters), so the build needs no xxd.
if(NOT DEFINED IN OR NOT DEFINED OUT OR NOT DEFINED NAME)
  message(FATAL_ERROR
    "usage: cmake -DIN=file -DOUT=file.c -DNAME=symbol [-DFORBID=a|b] -P embed_text.cmake")
endif()
if(NOT NAME MATCHES "^[A-Za-z_][A-Za-z0-9_]*$")
  message(FATAL_ERROR "embed_text.cmake: NAME '${NAME}' is not a C identifier")
endif()
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" nhex)
math(EXPR nbytes "${nhex} / 2")
if(nbytes EQUAL 0)
  message(FATAL_ERROR "embed_text.cmake: ${IN} is empty")
endif()
# A NUL byte is "00" at an even offset.
string(REGEX MATCHALL "[0-9a-f][0-9a-f]" pairs "${hex}")
list(FIND pairs "00" nul_at)
if(NOT nul_at EQUAL -1)
  message(FATAL_ERROR "embed_text.cmake: ${IN} holds a NUL byte at offset ${nul_at}: not text")
endif()
if(DEFINED FORBID AND NOT FORBID STREQUAL "")
  file(READ "${IN}" text)
  string(TOLOWER "${text}" text)
  string(REPLACE "|" ";" forbidden "${FORBID}")
  foreach(bad IN LISTS forbidden)
    string(TOLOWER "${bad}" bad_lc)
    string(FIND "${text}" "${bad_lc}" at)
    if(NOT at EQUAL -1)
      message(FATAL_ERROR
        "embed_text.cmake: ${IN} contains \"${bad}\" (at character ${at}), "
        "which must not be embedded")
    endif()
  endforeach()
endif()
# "0a1b..." -> the C character constants '\x0a','\x1b',..., sixteen a line,
# then the NUL.
# Character constants, not 0xNN: a byte above 0x7f is then the char it is
# wherever char is signed, with no conversion warning.
list(JOIN pairs "," bytes)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'" bytes "${bytes}")
# (CMake's regular expressions have no {n}: the sixteen are spelt out.)
string(REPEAT "'.x[0-9a-f][0-9a-f]'," 16 line_rx)
string(REGEX REPLACE "(${line_rx})" "\\1\n  " bytes "${bytes}")
get_filename_component(src "${IN}" NAME)
# Written beside, then moved: a build stopped half way leaves no truncated
# source that looks up to date.
file(WRITE "${OUT}.tmp"
"/* Generated at build time by cmake/embed_text.cmake from ${src}: do not edit. */
#include <stddef.h>

extern const char ${NAME}[];
extern const size_t ${NAME}_len;

const char ${NAME}[] = {
  ${bytes},'\\0'
};
const size_t ${NAME}_len = ${nbytes};
")
file(RENAME "${OUT}.tmp" "${OUT}")
