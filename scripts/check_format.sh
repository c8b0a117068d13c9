#!/usr/bin/env bash
# Fails when a tracked C file differs from what clang-format makes of it
# with the checked-in .clang-format (clang-format 14, Debian 12).
# Fix with:  git ls-files '*.c' '*.h' | xargs clang-format -i
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mapfile -t files < <(git ls-files '*.c' '*.h')
if ! clang-format --dry-run --Werror "${files[@]}" 2>/tmp/rl-format.$$; then
  grep -E '^[^ ].*: (error|warning):' /tmp/rl-format.$$ | cut -d: -f1 | sort -u |
    sed 's/^/check_format: not formatted: /'
  rm -f /tmp/rl-format.$$
  echo "check_format: run: git ls-files '*.c' '*.h' | xargs clang-format -i" >&2
  exit 1
fi
rm -f /tmp/rl-format.$$
echo "check_format: ${#files[@]} files formatted"
