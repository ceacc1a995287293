#!/usr/bin/env bash
# Splits pipelines/sharded.toml across N workers (default 4) against a local sandbox and times
# it against one unsharded run; both write Parquet under a temporary folder.
#
#   benches/shard/run.sh [N] [SCALE]
#
# Uses target/release/chorus when it exists (cargo build --release -p chorus-cli), else builds
# the debug binary.
set -euo pipefail
cd "$(dirname "$0")/../.."
N="${1:-4}"
SCALE="${2:-10}"
TARGET="${CARGO_TARGET_DIR:-$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')}"
BIN="$TARGET/release/chorus"
if [ ! -x "$BIN" ]; then
  cargo build -q -p chorus-cli
  BIN="$TARGET/debug/chorus"
fi
WORK="$(mktemp -d)"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$BIN" sandbox --port "$PORT" --scale "$SCALE" >/dev/null 2>&1 &
SANDBOX=$!
trap 'kill $SANDBOX 2>/dev/null; rm -rf "$WORK"' EXIT
until curl -sf "http://127.0.0.1:$PORT/_sandbox/requests" >/dev/null; do sleep 0.1; done

BASE="http://127.0.0.1:$PORT"
export META_GRAPH_URL="$BASE/meta" META_ACCESS_TOKEN=EAAsandboxMetaToken0chorus7Zx3
export X_API_URL="$BASE/x" X_BEARER_TOKEN='AAAAAAAAAAAAAAAAAAAAAChorusSandboxX%2Fbearer0token7Qw2'
export SLACK_API_URL="$BASE/slack/api" SLACK_BOT_TOKEN=xoxb-1000000001-2000000002-chorusSandboxSlackToken7
export ZENDESK_API_URL="$BASE/zendesk" ZENDESK_API_TOKEN=ZdSandboxApiToken0chorus4Kq8vT2
export FRESHDESK_API_URL="$BASE/freshdesk" FRESHDESK_API_KEY=FdSandboxKey0chorus8Hn3Rx

setup() {
  mkdir -p "$WORK/$1"
  sed "s|path = \"../out/sharded\"|path = \"$WORK/$1/out\"|" pipelines/sharded.toml > "$WORK/$1/sharded.toml"
}
now() { python3 -c 'import time; print(time.time())'; }

setup one
t0=$(now)
"$BIN" --progress never run "$WORK/one/sharded.toml" >/dev/null 2>"$WORK/one.log"
t1=$(now)

setup many
t2=$(now)
pids=()
for ((i = 0; i < N; i++)); do
  "$BIN" --progress never run "$WORK/many/sharded.toml" --shard "$i/$N" >/dev/null 2>"$WORK/shard$i.log" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
t3=$(now)
"$BIN" --progress never run "$WORK/many/sharded.toml" --marts-only >/dev/null 2>"$WORK/marts.log"
t4=$(now)

rows() { python3 - "$1" <<'PY'
import sys, pyarrow.dataset as ds, pathlib
root = pathlib.Path(sys.argv[1])
print(sum(ds.dataset(str(t), format="parquet").count_rows() for t in sorted(root.iterdir()) if t.is_dir() and not t.name.startswith("_")))
PY
}
python3 - "$t0" "$t1" "$t2" "$t3" "$t4" "$N" "$SCALE" "$(rows "$WORK/one/out")" "$(rows "$WORK/many/out")" "$(nproc)" "$BIN" <<'PY'
import sys
t0, t1, t2, t3, t4 = map(float, sys.argv[1:6])
n, scale, r1, rn, cores, binary = sys.argv[6:]
print(f"binary {binary}, {cores} cores, sandbox scale {scale}")
print(f"1 process:          {t1 - t0:6.2f} s  {r1} rows")
print(f"{n} shard processes: {t3 - t2:6.2f} s  {rn} rows (all at once, sharing one output)")
print(f"then --marts-only:  {t4 - t3:6.2f} s")
print(f"speed-up: {(t1 - t0) / (t3 - t2):.2f} x")
PY
