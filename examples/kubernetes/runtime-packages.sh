#!/usr/bin/env bash
# The Debian packages an installed rpcload needs at run time, one a line:
# those owning the shared libraries that its executables, libraries and
# plugins under PREFIX link (by ldd), plus protoc and the well-known .proto
# files (--proto runs protoc at start-up) and CA certificates (TLS
# targets). The Containerfile's second stage installs exactly these.
#
#   examples/kubernetes/runtime-packages.sh /usr/local
set -euo pipefail
prefix=${1:?usage: runtime-packages.sh PREFIX}
{
  find "$prefix" -type f \( -perm -u+x -o -name '*.so*' \) -print0 |
    while IFS= read -r -d '' f; do
      # Only ELF files; ldd lines "libx.so => /path (0x...)".
      [[ $(head -c 4 "$f" | od -An -c | tr -d ' ') == 177ELF ]] || continue
      ldd "$f" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 }'
    done |
    sort -u |
    while IFS= read -r lib; do
      # Libraries of our own (under PREFIX) belong to no package.
      [[ $lib == "$prefix"/* ]] && continue
      real=$(readlink -f "$lib")
      dpkg-query -S "$lib" 2>/dev/null || dpkg-query -S "$real" 2>/dev/null ||
        { echo "runtime-packages: no package owns $lib" >&2; exit 1; }
    done | sed 's/:.*//; s/,.*//'
  printf '%s\n' protobuf-compiler libprotobuf-dev ca-certificates
} | sort -u
