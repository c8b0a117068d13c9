#!/usr/bin/env python3
"""Fails when an #include points up the module order or names a project
header by bare name from another folder (docs/architecture.md, "Modules").

  src/<module>/   may include "<module>/x.h" of its own module or of one
                  below it:  base < stats < events < engine < scenario,
                  report < web < cluster
                  (scenario and report are siblings: neither includes the
                  other)
  src/api/        the public API (<rpcload/rpcload.h>) on every module
  src/script/     Lua users, on the API (rl_env_add_script)
  cli/            nothing of src/: the command is the library's first user
                  and sees <rpcload/rpcload.h> alone (and its own headers)
  kit/            any src/ module (it sits on top), and its own folder's
                  headers by bare name
  tests/          anything they test, and what tests share by its path
                  under tests/ ("unit/fake_host.h"; also from the examples'
                  tests)
  plugins/ examples/
                  never src/: a plugin sees only <rpcload/...>, its own
                  folder's headers by bare name, and plugins/lib/'s as
                  "lib/x.h" (never another plugin's folder)

A bare "x.h" must name a file in the includer's own folder (or a generated
header); a "dir/x.h" must exist under src/ or, for another folder of
plugins/ ("lib/x.h", and "grpc/x.h" from a test), under plugins/.
Usage: scripts/check_includes.py  (from anywhere; exit 1 with one line per
offence)
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RANK = {"base": 0, "stats": 1, "events": 1.5, "engine": 2, "scenario": 3,
        "report": 3, "web": 4, "cluster": 4.5, "api": 5, "script": 6}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
# Headers made at build time (protoc-c), found on a generated include path.
GENERATED = re.compile(r"\.pb-c\.h$")


def sources(top):
    for d, dirs, files in os.walk(os.path.join(ROOT, top)):
        dirs[:] = [x for x in dirs if x not in ("node_modules", "build")]
        for f in files:
            if f.endswith((".c", ".h")):
                yield os.path.join(d, f)


def check(path):
    rel = os.path.relpath(path, ROOT)
    parts = rel.split(os.sep)
    here = os.path.dirname(path)
    text = open(path, encoding="utf-8", errors="replace").read()
    for m in INCLUDE.finditer(text):
        inc = m.group(1)
        line = text.count("\n", 0, m.start()) + 1
        where = "%s:%d" % (rel, line)
        if inc.startswith("../"):
            # a test compiling a file it tests, by its path
            if parts[0] != "tests":
                yield '%s: "%s": include by module path, not ../' % (where, inc)
            continue
        if "/" not in inc or GENERATED.search(inc):
            ok = os.path.exists(os.path.join(here, inc)) or GENERATED.search(inc)
            if not ok:
                yield ('%s: "%s" is not in %s/: include another module\'s header '
                       'by its module path' % (where, inc, os.path.dirname(rel)))
            continue
        mod = inc.split("/")[0]
        if mod not in RANK:
            # plugins/lib/x.h, plugins/grpc/x.h: the plugins' own headers;
            # for tests also tests/unit/x.h: what they share (the fake host)
            if not (os.path.exists(os.path.join(here, inc)) or
                    os.path.exists(os.path.join(ROOT, "plugins", inc)) or
                    ("tests" in parts and
                     os.path.exists(os.path.join(ROOT, "tests", inc)))):
                yield '%s: "%s": no such header under src/ or plugins/' % (where, inc)
            elif parts[0] == "plugins" and mod != "lib":
                yield ('%s: "%s": a plugin shares code through plugins/lib/, '
                       'not another plugin\'s folder' % (where, inc))
            continue
        if not os.path.exists(os.path.join(ROOT, "src", inc)):
            yield '%s: "%s" does not exist under src/' % (where, inc)
        if "tests" in parts:
            continue  # a test includes what it tests
        if parts[0] in ("plugins", "examples"):
            yield ('%s: "%s": a plugin includes nothing of src/, only '
                   '<rpcload/plugin.h>' % (where, inc))
        elif parts[0] == "cli":
            yield ('%s: "%s": the command line uses the library\'s public '
                   'header alone (<rpcload/rpcload.h>), nothing of src/'
                   % (where, inc))
        elif parts[0] == "src":
            own = parts[1]
            if own not in RANK:
                yield "%s: file outside every module of src/" % where
            elif mod != own and RANK[mod] >= RANK[own]:
                yield ('%s: "%s": %s may not include %s (base < stats < events < '
                       'engine < scenario, report < web < cluster < api)' % (where, inc, own, mod))


def main():
    bad = []
    for top in ("src", "cli", "kit", "plugins", "examples", "tests"):
        for path in sources(top):
            bad.extend(check(path))
    for b in bad:
        print(b)
    if bad:
        print("check_includes: %d include(s) against the module order" % len(bad),
              file=sys.stderr)
        return 1
    print("check_includes: every include follows the module order")
    return 0


if __name__ == "__main__":
    sys.exit(main())
