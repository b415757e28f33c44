# Shared by scripts/run, scripts/test and bench/run: a venv with the project's
# requirements, and a Redis that answers. Source it; do not run it.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
RUN_DIR="$ROOT/.run"
mkdir -p "$RUN_DIR"

say() { printf '%s\n' "$*" >&2; }

# ensure_venv REQUIREMENTS...: create .venv and install what changed since last time.
ensure_venv() {
  local py="${PYTHON:-python3}"
  if ! command -v "$py" >/dev/null 2>&1; then
    say "error: $py not found; install Python 3.11+ (apt-get install python3 python3-venv)"; exit 1
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV"
    "$py" -m venv "$VENV" || { say "error: could not create a venv; install python3-venv"; exit 1; }
    "$VENV/bin/pip" install -q --upgrade pip >/dev/null
  fi
  local stamp="$VENV/.requirements.sha" want
  want="$(cd "$ROOT" && cat "$@" | sha256sum | cut -d' ' -f1)"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    say "installing $* into .venv"
    local args=()
    for f in "$@"; do args+=(-r "$ROOT/$f"); done
    "$VENV/bin/pip" install -q "${args[@]}" 2> >(grep -v '^WARNING: Location' >&2) \
      || { say "error: pip install failed (see above)"; exit 1; }
    echo "$want" > "$stamp"
  fi
}

# redis_answers URL: true when a Redis server answers PING at URL.
redis_answers() {
  "$VENV/bin/python" - "$1" <<'PY' 2>/dev/null
import sys, redis
try:
    sys.exit(0 if redis.Redis.from_url(sys.argv[1], socket_connect_timeout=1).ping() else 1)
except Exception:
    sys.exit(1)
PY
}

# ensure_redis URL: make a Redis answer at URL (host must be local to start one).
ensure_redis() {
  local url="$1"
  redis_answers "$url" && return 0
  local hostport host port
  hostport="$(printf '%s' "$url" | sed -E 's#^rediss?://([^@/]*@)?([^/]+).*#\2#')"
  host="${hostport%:*}"; port="${hostport##*:}"
  [ "$port" = "$hostport" ] && port=6379
  case "$host" in 127.0.0.1|localhost|::1) ;; *)
    say "error: nothing answers at REDIS_URL=$url and it is not local, so it cannot be started here"; exit 1;;
  esac
  if ! command -v redis-server >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      say "installing redis-server with apt-get"
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server) >/dev/null 2>&1 || true
    fi
  fi
  if ! command -v redis-server >/dev/null 2>&1; then
    say "error: no Redis at $url and redis-server is not installed: run 'sudo apt-get install redis-server' (or set REDIS_URL)"; exit 1
  fi
  say "starting redis-server on 127.0.0.1:$port (data not persisted, log in .run/redis.log)"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
    --dir "$RUN_DIR" --pidfile "$RUN_DIR/redis-$port.pid" --logfile "$RUN_DIR/redis.log" >/dev/null
  for _ in $(seq 50); do redis_answers "$url" && return 0; sleep 0.1; done
  say "error: redis-server did not answer on port $port (see .run/redis.log)"; exit 1
}

# dotenv_load FILE: export the variables FILE sets that the environment does
# not (python-dotenv reads it, as the flask CLI and config.load_dotenv do).
dotenv_load() {
  [ -f "$1" ] || return 0
  local exports
  exports="$("$VENV/bin/python" - "$1" <<'PY'
import os, shlex, sys
from dotenv import dotenv_values
for key, value in dotenv_values(sys.argv[1], encoding="utf-8").items():
    if value is not None and key not in os.environ:
        print(f"export {key}={shlex.quote(value)}")
PY
)" || { say "error: could not read $1 (see above)"; exit 1; }
  eval "$exports"
}

# dotenv_keep FILE: write to FILE (mode 600) every setting of config.py that
# the environment sets and FILE lacks, so a command in another shell of this
# checkout uses the same ones. A line already in FILE is never changed; a
# setting whose exported value differs from FILE's is reported.
dotenv_keep() {
  (umask 077; touch "$1")
  (cd "$ROOT" && "$VENV/bin/python" - "$1" <<'PY'
import os, sys
import dotenv
import config
path = sys.argv[1]
present = dotenv.dotenv_values(path, encoding="utf-8")
added = []
for key in config.DEFAULTS:
    value = os.environ.get(key)
    if value is None:
        continue
    if key not in present:
        dotenv.set_key(path, key, value, quote_mode="always")
        added.append(key)
    elif present[key] != value:
        print(f"note: {key} is exported with another value than {path} has; "
              f"commands in another shell will use the file's", file=sys.stderr)
if added:
    print(f"saved {', '.join(added)} to {path} (every flask command in this checkout reads it)", file=sys.stderr)
PY
  ) || { say "error: could not write $1 (see above)"; exit 1; }
}
