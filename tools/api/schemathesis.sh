#!/usr/bin/env bash
# API conformance: schemathesis (PyPI) against a real server with demo data, as a township clerk
# and as an administrator, every check, bounded in time. Fails on any server error, schema
# violation or undocumented status. Usage: tools/api/schemathesis.sh [path/to/jingkang] [seconds]
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${1:-target/debug/jingkang}
SECONDS_EACH=${2:-90}
VENV=${SCHEMATHESIS_VENV:-target/schemathesis-venv}
if [ ! -x "$VENV/bin/schemathesis" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q 'schemathesis>=4,<5'
fi
DATA=$(mktemp -d /tmp/jingkang-st.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() { [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null; rm -rf "$DATA"; }
trap cleanup EXIT
"$BIN" --data-dir "$DATA" init --demo >/dev/null
"$BIN" --data-dir "$DATA" serve --demo --listen "127.0.0.1:$PORT" >"$DATA/serve.log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do
  python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/healthz', timeout=2)" \
    >/dev/null 2>&1 && break
  sleep 0.2
done
status=0
for user in jiezhen admin; do
  TOKEN=$("$BIN" --data-dir "$DATA" token create --user "$user" | grep -o 'jk_[A-Za-z0-9_-]*' | head -1)
  echo "== schemathesis as $user (${SECONDS_EACH}s)"
  "$VENV/bin/schemathesis" run "http://127.0.0.1:$PORT/api/v1/openapi.json" \
    --checks all --exclude-checks positive_data_acceptance \
    -H "Authorization: Bearer $TOKEN" \
    --max-time "$SECONDS_EACH" --workers 2 --request-timeout 30 \
    --suppress-health-check all --warnings off || status=1
done
if grep -q '"level":"ERROR"\|ERROR' "$DATA/serve.log"; then
  echo "== the server logged errors:"; grep 'ERROR' "$DATA/serve.log" | head -20; status=1
fi
exit $status
