#!/usr/bin/env bash
# Splits pipelines/sharded.toml across N workers (default 4) against a local sandbox and times
# it against one unsharded run. SINK picks the output:
#   parquet   Parquet in a temporary folder (the default)
#   delta-s3  Delta Lake tables in a bucket of a local S3 server (moto, started here; needs
#             `python3 -m pip install 'moto[server]' deltalake`, as .ci/run installs)
#
#   benches/shard/run.sh [N] [SCALE] [SINK]
#
# Uses target/release/chorus when it exists (cargo build --release -p chorus-cli), else builds
# the debug binary.
set -euo pipefail
cd "$(dirname "$0")/../.."
N="${1:-4}"
SCALE="${2:-10}"
SINK="${3:-parquet}"
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
S3=""
trap 'kill $SANDBOX $S3 2>/dev/null; rm -rf "$WORK"' EXIT
until curl -sf "http://127.0.0.1:$PORT/_sandbox/requests" >/dev/null; do sleep 0.1; done

case "$SINK" in
  parquet) ;;
  delta-s3)
    S3_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    python3 -m moto.server -H 127.0.0.1 -p "$S3_PORT" >/dev/null 2>&1 &
    S3=$!
    until curl -sf "http://127.0.0.1:$S3_PORT/" >/dev/null; do sleep 0.1; done
    curl -sf -X PUT "http://127.0.0.1:$S3_PORT/bench" >/dev/null
    export AWS_ENDPOINT_URL="http://127.0.0.1:$S3_PORT" AWS_ALLOW_HTTP=true AWS_REGION=us-east-1 \
      AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
    ;;
  *) echo "SINK is parquet or delta-s3, not $SINK" >&2; exit 2 ;;
esac

BASE="http://127.0.0.1:$PORT"
export META_GRAPH_URL="$BASE/meta" META_ACCESS_TOKEN=EAAsandboxMetaToken0chorus7Zx3
export X_API_URL="$BASE/x" X_BEARER_TOKEN='AAAAAAAAAAAAAAAAAAAAAChorusSandboxX%2Fbearer0token7Qw2'
export SLACK_API_URL="$BASE/slack/api" SLACK_BOT_TOKEN=xoxb-1000000001-2000000002-chorusSandboxSlackToken7
export ZENDESK_API_URL="$BASE/zendesk" ZENDESK_API_TOKEN=ZdSandboxApiToken0chorus4Kq8vT2
export FRESHDESK_API_URL="$BASE/freshdesk" FRESHDESK_API_KEY=FdSandboxKey0chorus8Hn3Rx

# The output of run $1: a folder, or a prefix in the bucket.
out() { if [ "$SINK" = parquet ]; then echo "$WORK/$1/out"; else echo "s3://bench/$1/out"; fi; }
setup() {
  mkdir -p "$WORK/$1"
  sed -e "s|path = \"../out/sharded\"|path = \"$(out "$1")\"|" \
      -e "/^\[sinks.lake\]/,/^path/ s|^type = \"parquet\"|type = \"$([ "$SINK" = parquet ] && echo parquet || echo delta)\"|" \
      pipelines/sharded.toml > "$WORK/$1/sharded.toml"
}
now() { python3 -c 'import time; print(time.time())'; }

setup one
t0=$(now)
"$BIN" --progress never run "$WORK/one/sharded.toml" >/dev/null 2>"$WORK/one.log" || { cat "$WORK/one.log"; exit 1; }
t1=$(now)

setup many
t2=$(now)
pids=()
for ((i = 0; i < N; i++)); do
  "$BIN" --progress never run "$WORK/many/sharded.toml" --shard "$i/$N" >/dev/null 2>"$WORK/shard$i.log" &
  pids+=($!)
done
for i in "${!pids[@]}"; do wait "${pids[$i]}" || { cat "$WORK/shard$i.log"; exit 1; }; done
t3=$(now)
"$BIN" --progress never run "$WORK/many/sharded.toml" --marts-only >/dev/null 2>"$WORK/marts.log" || { cat "$WORK/marts.log"; exit 1; }
t4=$(now)

# Rows in every table of run $1's output, read the way analysts read it.
rows() { python3 - "$SINK" "$(out "$1")" "$WORK/$1/sharded.toml" <<'PY'
import os, sys, pathlib, tomllib
sink, root, pipeline = sys.argv[1:]
if sink == "parquet":
    import pyarrow.dataset as ds
    root = pathlib.Path(root)
    n = sum(ds.dataset(str(t), format="parquet").count_rows()
            for t in sorted(root.iterdir()) if t.is_dir() and not t.name.startswith("_"))
else:
    from deltalake import DeltaTable
    opts = {k: os.environ[k] for k in ("AWS_ENDPOINT_URL", "AWS_ALLOW_HTTP", "AWS_REGION",
                                       "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    inputs = tomllib.load(open(pipeline, "rb"))["sinks"]["lake"]["inputs"]
    n = sum(DeltaTable(f"{root}/{i.replace('.', '__')}", storage_options=opts).to_pyarrow_table().num_rows
            for i in inputs)
print(n, flush=True)
os._exit(0)  # deltalake can abort in its destructors at exit (delta-rs#2184)
PY
}
python3 - "$t0" "$t1" "$t2" "$t3" "$t4" "$N" "$SCALE" "$(rows one)" "$(rows many)" "$(nproc)" "$BIN" "$SINK" <<'PY'
import sys
t0, t1, t2, t3, t4 = map(float, sys.argv[1:6])
n, scale, r1, rn, cores, binary = sys.argv[6:12]
print(f"binary {binary}, {cores} cores, sandbox scale {scale}, sink {sys.argv[12]}")
print(f"1 process:          {t1 - t0:6.2f} s  {r1} rows")
print(f"{n} shard processes: {t3 - t2:6.2f} s  {rn} rows (all at once, sharing one output)")
print(f"then --marts-only:  {t4 - t3:6.2f} s")
print(f"speed-up: {(t1 - t0) / (t3 - t2):.2f} x")
PY
