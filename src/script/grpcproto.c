/*
 * rl.grpc.proto("hello.proto") (issue #23's sketch; docs/lua.md): a
 * proto object, made at a script's top level, that a class names in its
 * grpc table (grpc = {proto = hello, host = ...}) and a task passes to
 * u.grpc:call(hello, "SayHello", msg). It lists the file's services'
 * methods with their shapes (unary, server, client or bidi streaming), so
 * that a class declares every method of the file by default and a call
 * of a streaming method sends a list or returns the replies (calls.c).
 *
 * The grpc plugin compiles the file itself when the class's requests are
 * made (declare.c); this only reads what a call needs, the package and
 * each `service { rpc M (stream? In) returns (stream? Out) }`, with Lua
 * patterns (comments and strings aside), so a file the plugin would
 * refuse is refused there, with the plugin's message.
 */
#include <lauxlib.h>

#include "script/script.h"

const char rl__script_proto_key[] = "__rl_proto";

static const char prelude[] =
    "local KEY, script_path = ...\n"
    "-- The objects the script made (not declare.c's), in order: a class\n"
    "-- with no grpc table may call their methods (declare.c).\n"
    "local made = {}\n"
    "local function dir_of(p) return p:match('^(.*/)') or '' end\n"
    "-- A file relative to the script's folder (the caller's, or the\n"
    "-- script given), as the grpc table's proto is (declare.c).\n"
    "local function resolve(file, script)\n"
    "  if file:sub(1, 1) == '/' then return file end\n"
    "  if not script then\n"
    "    local info = debug.getinfo(3, 'S')\n"
    "    local src = info and info.source or ''\n"
    "    script = src:sub(1, 1) == '@' and src:sub(2) or ''\n"
    "  end\n"
    "  return dir_of(script) .. file\n"
    "end\n"
    "local function scan(text)\n"
    "  text = text:gsub('/%*.-%*/', ' '):gsub('//[^\\n]*', ' ')\n"
    "  local pkg = text:match('package%s+([%w_%.]+)%s*;')\n"
    "  local prefix = pkg and pkg .. '.' or ''\n"
    "  local methods, kinds, names = {}, {}, {}\n"
    "  for svc, body in text:gmatch('service%s+([%w_]+)%s*(%b{})') do\n"
    "    for m, ins, outs in body:gmatch('rpc%s+([%w_]+)%s*(%b())%s*'\n"
    "                                    .. 'returns%s*(%b())') do\n"
    "      local full = prefix .. svc .. '/' .. m\n"
    "      local c = ins:match('^%(%s*stream%s') ~= nil\n"
    "      local s = outs:match('^%(%s*stream%s') ~= nil\n"
    "      methods[#methods + 1] = full\n"
    "      kinds[full] = c and s and 'bidi' or c and 'client' or s and\n"
    "                    'server' or 'unary'\n"
    "      for _, n in ipairs {m, svc .. '/' .. m, prefix .. svc .. '.' .. m} "
    "do\n"
    "        names[n] = names[n] == nil and full or false -- false: ambiguous\n"
    "      end\n"
    "      names[full] = full\n"
    "    end\n"
    "  end\n"
    "  table.sort(methods)\n"
    "  return methods, kinds, names\n"
    "end\n"
    "-- rl.grpc.proto(file, {import_path = dir}); with script (declare.c's\n"
    "-- call) the file is relative to it; nil and the reason on failure.\n"
    "local function proto(file, opts, script)\n"
    "  if type(file) ~= 'string' then\n"
    "    error('rl.grpc.proto: give the .proto file\\'s path', 2)\n"
    "  end\n"
    "  if opts ~= nil and type(opts) ~= 'table' then\n"
    "    error('rl.grpc.proto: options: {import_path = \"dir\"}', 2)\n"
    "  end\n"
    "  local imports = opts and opts.import_path\n"
    "  if imports ~= nil and type(imports) ~= 'string' then\n"
    "    error('rl.grpc.proto: import_path: a string', 2)\n"
    "  end\n"
    "  local path = resolve(file, script)\n"
    "  local f, why = io.open(path, 'r')\n"
    "  local text = f and f:read('*a')\n"
    "  if f then f:close() end\n"
    "  if not text then\n"
    "    why = 'rl.grpc.proto: ' .. (why or path .. ': cannot read')\n"
    "    if script then return nil, why end\n"
    "    error(why, 2)\n"
    "  end\n"
    "  local methods, kinds, names = scan(text)\n"
    "  if #methods == 0 and not script then\n"
    "    error('rl.grpc.proto: ' .. path .. ': no service with an rpc '\n"
    "          .. 'in it', 2)\n"
    "  end\n"
    "  local obj = {[KEY] = true, file = file, import_path = imports,\n"
    "               methods = methods, kinds = kinds, names = names}\n"
    "  if not script then made[#made + 1] = obj end\n"
    "  return obj\n"
    "end\n"
    "return {proto = proto, [KEY] = made}\n";

void rl__script_open_grpc(lua_State *L, int rl_table) {
  if (luaL_loadbuffer(L, prelude, sizeof prelude - 1, "=rl.grpc") != 0)
    lua_error(L); /* our own text: a bug, said at the first load */
  lua_pushstring(L, rl__script_proto_key);
  lua_call(L, 1, 1);
  lua_setfield(L, rl_table, "grpc");
}

int rl__script_is_proto(lua_State *L, int idx) {
  if (lua_type(L, idx) != LUA_TTABLE)
    return 0;
  lua_getfield(L, idx, rl__script_proto_key);
  int is = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return is;
}

int rl__script_proto_of(lua_State *L, const char *script, const char *file) {
  int top = lua_gettop(L);
  lua_getglobal(L, "rl");
  if (lua_istable(L, -1)) {
    lua_getfield(L, -1, "grpc");
    if (lua_istable(L, -1))
      lua_getfield(L, -1, "proto");
  }
  if (!lua_isfunction(L, -1)) { /* a state without the rl library */
    lua_settop(L, top);
    return -1;
  }
  lua_pushstring(L, file);
  lua_pushnil(L);
  lua_pushstring(L, script);
  if (lua_pcall(L, 3, 1, 0) != 0 || !lua_istable(L, -1)) {
    lua_settop(L, top);
    return -1;
  }
  lua_replace(L, top + 1);
  lua_settop(L, top + 1);
  return 0;
}
