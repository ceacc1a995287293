#!/usr/bin/env python3
"""The fetch-floor benchmark: chorus against curl and dlt on static Graph API pages.

Run it through run.sh, which builds chorus and prepares nginx and the dlt venv. Settings come
from the environment:

  BENCH_QUICK=1     small sizes (20k / 200k posts, 20 x 1k), for a smoke run
  BENCH_WORK        work folder (default /tmp/chorus-bench): data, nginx, outputs, venv
  BENCH_PORT        nginx port on 127.0.0.1 (default 18931; the pages embed it)
  CHORUS_BIN        the chorus binary (release build)
  BENCH_PYTHON      the venv python with dlt (empty: skip dlt)
  BENCH_REPEAT      runs of each chorus measurement, the best kept (default 1)
  BENCH_SINK_OPTIONS  extra `parquet` sink settings, `;`-separated (default: none)
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
WORK = os.environ.get("BENCH_WORK", "/tmp/chorus-bench")
PORT = int(os.environ.get("BENCH_PORT", "18931"))
CHORUS = os.environ.get("CHORUS_BIN", "chorus")
PYTHON = os.environ.get("BENCH_PYTHON", "")
REPEAT = max(1, int(os.environ.get("BENCH_REPEAT", "1")))
SINK_OPTIONS = os.environ.get("BENCH_SINK_OPTIONS", "")  # e.g. "compression_level = 1"
BASE = f"http://127.0.0.1:{PORT}"
TOKEN = "EAAbenchToken0chorus"

if QUICK:
    SMALL, LARGE, ACCOUNTS, PER_ACCOUNT = 20_000, 200_000, 20, 1_000
else:
    SMALL, LARGE, ACCOUNTS, PER_ACCOUNT = 200_000, 2_000_000, 20, 10_000
DATASETS = {
    "small": (1, SMALL),
    "large": (1, LARGE),
    "accounts": (ACCOUNTS, PER_ACCOUNT),
}


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def measure(cmd, env=None, cwd=None, stdout=subprocess.DEVNULL):
    """Runs `cmd`; returns (wall seconds, peak RSS in MB, user+sys seconds)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=stdout, stderr=subprocess.PIPE)
    err_chunks = []
    # Drain stderr while waiting so a chatty child cannot block.
    for line in proc.stderr:
        err_chunks.append(line)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.stderr.write(b"".join(err_chunks[-40:]).decode(errors="replace"))
        raise SystemExit(f"[bench] failed ({proc.returncode}): {' '.join(cmd)}")
    return wall, usage.ru_maxrss / 1024.0, usage.ru_utime + usage.ru_stime


def best(runs):
    return min(runs, key=lambda r: r[0])


def data_dir() -> str:
    return os.path.join(WORK, "data")


def generate() -> dict:
    metas = {}
    for name, (accounts, posts) in DATASETS.items():
        ds = f"{name}_{accounts}x{posts}"
        meta_path = os.path.join(data_dir(), ds, "meta.json")
        meta = None
        if os.path.exists(meta_path):
            with open(meta_path) as f:
                meta = json.load(f)
            if meta.get("base_url") != f"{BASE}/{ds}":
                meta = None
        if meta is None:
            shutil.rmtree(os.path.join(data_dir(), ds), ignore_errors=True)
            log(f"generating {ds} ...")
            subprocess.run(
                [sys.executable, os.path.join(HERE, "gen.py"), "--out", data_dir(), "--name", ds,
                 "--base-url", BASE, "--accounts", str(accounts), "--posts", str(posts)],
                check=True,
            )
            with open(meta_path) as f:
                meta = json.load(f)
        meta["name"] = ds
        metas[name] = meta
    return metas


def start_nginx() -> subprocess.Popen:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    ngx = os.path.join(WORK, "nginx")
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        os.makedirs(os.path.join(ngx, "tmp", sub), exist_ok=True)
    with open(os.path.join(HERE, "nginx.conf.in")) as f:
        conf = f.read()
    conf = conf.replace("@PORT@", str(PORT)).replace("@DATA@", data_dir()).replace("@WORK@", ngx)
    conf_path = os.path.join(ngx, "nginx.conf")
    with open(conf_path, "w") as f:
        f.write(conf)
    proc = subprocess.Popen(
        [nginx, "-p", ngx, "-e", os.path.join(ngx, "nginx-error.log"), "-c", conf_path],
        start_new_session=True,
    )
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", PORT), timeout=0.2):
                return proc
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"[bench] nginx exited; see {ngx}/nginx-error.log")
            time.sleep(0.1)
    raise SystemExit("[bench] nginx did not start listening")


def check_chain(meta: dict) -> None:
    """The first page answers, and the next link answers a different page."""
    page_id = meta["page_ids"][0]
    with open(os.path.join(data_dir(), meta["name"], "urls", f"{page_id}.txt")) as f:
        urls = f.read().split()
    req = urllib.request.Request(urls[0], headers={"Authorization": f"Bearer {TOKEN}"})
    first = json.load(urllib.request.urlopen(req))
    assert len(first["data"]) > 0, "page 1 is empty"
    if len(urls) > 1:
        assert first["paging"]["next"] == urls[1], "page 1's next is not the second URL"
        second = json.load(urllib.request.urlopen(urls[1]))
        assert second["data"][0]["id"] != first["data"][0]["id"], "next served page 1 again"


def curl_config(urls, path) -> str:
    with open(path, "w") as f:
        for u in urls:
            f.write(f'url = "{u}"\noutput = "/dev/null"\n')
    return path


def chain_urls(meta, page_id):
    with open(os.path.join(data_dir(), meta["name"], "urls", f"{page_id}.txt")) as f:
        return f.read().split()


def curl_cmd(cfg):
    return ["curl", "-s", "-f", "-H", f"Authorization: Bearer {TOKEN}", "-K", cfg]


def floor_sequential(meta) -> float:
    cfg = curl_config(chain_urls(meta, meta["page_ids"][0]), os.path.join(WORK, f"curl-{meta['name']}.cfg"))
    return best([measure(curl_cmd(cfg)) for _ in range(3)])[0]


def floor_parallel(meta, workers=4) -> float:
    """Every account's chain, `workers` curl processes at once (chains dealt round-robin)."""
    cfgs = []
    for w in range(workers):
        urls = []
        for i, pid in enumerate(meta["page_ids"]):
            if i % workers == w:
                urls += chain_urls(meta, pid)
        cfgs.append(curl_config(urls, os.path.join(WORK, f"curl-{meta['name']}-{w}.cfg")))
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        procs = [subprocess.Popen(curl_cmd(c)) for c in cfgs]
        for p in procs:
            if p.wait() != 0:
                raise SystemExit("[bench] a parallel curl failed")
        runs.append(time.perf_counter() - start)
    return min(runs)


def pipeline(meta, name) -> str:
    folder = os.path.join(WORK, "runs", name)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    lines = [f'[pipeline]\nname = "bench_{name}"\n']
    inputs = []
    for i, pid in enumerate(meta["page_ids"]):
        src = f"p{i:02d}"
        lines.append(
            f'[sources.{src}]\ntype = "facebook_pages"\npage_id = "{pid}"\n'
            f'access_token = "${{BENCH_TOKEN}}"\nbase_url = "{meta["base_url"]}"\n'
            f'start_date = "2026-10-01"\nstreams = ["posts"]\n'
        )
        inputs.append(f'"{src}.posts"')
    lines.append(
        f'[sinks.lake]\ntype = "parquet"\ninputs = [{", ".join(inputs)}]\npath = "lake"\n'
        + SINK_OPTIONS.replace(";", "\n") + "\n"
    )
    path = os.path.join(folder, "pipeline.toml")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


def run_chorus(meta, name):
    path = pipeline(meta, name)
    env = dict(os.environ, BENCH_TOKEN=TOKEN, CHORUS_LOG="warn")
    runs = []
    for _ in range(REPEAT):
        lake = os.path.join(os.path.dirname(path), "lake")
        shutil.rmtree(lake, ignore_errors=True)
        summary = os.path.join(os.path.dirname(path), "summary.json")
        runs.append(measure(
            [CHORUS, "--progress", "never", "run", path, "--full-refresh",
             "--start", "2026-10-01", "--end", "2026-10-30", "--summary-json", summary],
            env=env,
        ))
    rows = count_rows(os.path.join(os.path.dirname(path), "summary.json"))
    expected = meta["accounts"] * meta["posts_per_account"]
    if rows != expected:
        raise SystemExit(f"[bench] chorus wrote {rows} rows, expected {expected}")
    wall, rss, cpu = best(runs)
    log(f"chorus {name}: {wall:.2f}s, {rss:.1f} MB peak RSS, {cpu:.2f}s CPU, {rows} rows")
    return wall, rss, cpu


def count_rows(summary_path) -> int:
    with open(summary_path) as f:
        s = json.load(f)
    total = 0
    for t in s.get("tables", []):
        total += int(t.get("rows", 0))
    return total


def run_dlt(meta):
    out = os.path.join(WORK, "runs", "dlt")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    env = dict(os.environ, BENCH_TOKEN=TOKEN, RUNTIME__DLTHUB_TELEMETRY="false",
               RUNTIME__LOG_LEVEL="WARNING")
    wall, rss, cpu = measure(
        [PYTHON, os.path.join(HERE, "dlt_posts.py"), meta["base_url"], out]
        + [str(p) for p in meta["page_ids"]],
        env=env,
    )
    log(f"dlt {meta['name']}: {wall:.2f}s, {rss:.1f} MB peak RSS, {cpu:.2f}s CPU")
    return wall, rss, cpu


def main() -> int:
    os.makedirs(WORK, exist_ok=True)
    metas = generate()
    nginx = start_nginx()
    try:
        for m in metas.values():
            check_chain(m)
        r = {"quick": QUICK, "sizes": {k: m["accounts"] * m["posts_per_account"] for k, m in metas.items()}}
        log("curl floors ...")
        r["floor_small"] = floor_sequential(metas["small"])
        r["floor_large"] = floor_sequential(metas["large"])
        r["floor_parallel"] = floor_parallel(metas["accounts"])
        r["floor_accounts_sequential"] = measure(curl_cmd(curl_config(
            [u for pid in metas["accounts"]["page_ids"] for u in chain_urls(metas["accounts"], pid)],
            os.path.join(WORK, "curl-accounts-all.cfg"))))[0]
        log(f"floors: {r['floor_small']:.2f}s, {r['floor_large']:.2f}s, parallel {r['floor_parallel']:.2f}s")
        r["chorus_small"] = run_chorus(metas["small"], "small")
        r["chorus_large"] = run_chorus(metas["large"], "large")
        r["chorus_accounts"] = run_chorus(metas["accounts"], "accounts")
        if PYTHON:
            r["dlt_small"] = run_dlt(metas["small"])
        r["bytes"] = {k: m["bytes"] for k, m in metas.items()}
    finally:
        os.killpg(nginx.pid, signal.SIGTERM)
        nginx.wait()
    with open(os.path.join(WORK, "results.json"), "w") as f:
        json.dump(r, f, indent=2)
    report(r)
    return 0


def report(r) -> None:
    s = r["sizes"]
    rows = []
    ok_all = True

    def line(what, value, target, ok):
        nonlocal ok_all
        if ok is not None:
            ok_all &= ok
        rows.append((what, value, target, "" if ok is None else ("PASS" if ok else "FAIL")))

    def k(n):
        return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else f"{n // 1000}k"

    for key in ("small", "large"):
        wall, rss, cpu = r[f"chorus_{key}"]
        floor = r[f"floor_{key}"]
        n = s[key]
        mb = r["bytes"][key] / 1e6
        line(f"curl floor, 1 chain, {k(n)} posts ({mb:.0f} MB)", f"{floor:.2f} s", "", None)
        line(f"chorus, 1 chain, {k(n)} posts", f"{wall:.2f} s ({n / wall / 1000:.0f}k posts/s, {cpu:.1f} s CPU)", "", None)
        line(f"  chorus / floor ({k(n)})", f"{wall / floor:.2f} x", "<= 1.3 x", wall / floor <= 1.3)
        line(f"  peak RSS ({k(n)})", f"{rss:.1f} MB", "<= 64 MB", rss <= 64)
    small_rss, large_rss = r["chorus_small"][1], r["chorus_large"][1]
    growth = large_rss / small_rss - 1
    line(f"  RSS growth {k(s['small'])} -> {k(s['large'])}", f"{growth * 100:+.1f} %", "<= 10 %", growth <= 0.10)
    wall, rss, cpu = r["chorus_accounts"]
    n = s["accounts"]
    line(f"curl floor, 20 chains, 4 in parallel, {k(n)} posts", f"{r['floor_parallel']:.2f} s",
         f"(sequential {r['floor_accounts_sequential']:.2f} s)", None)
    line(f"chorus, 20 accounts, concurrency 4, {k(n)} posts", f"{wall:.2f} s ({n / wall / 1000:.0f}k posts/s, {rss:.1f} MB)", "", None)
    ratio = wall / r["floor_parallel"]
    line("  chorus / parallel floor", f"{ratio:.2f} x", "<= 1.3 x", ratio <= 1.3)
    if "dlt_small" in r:
        dwall, drss, dcpu = r["dlt_small"]
        cwall, crss, _ = r["chorus_small"]
        line(f"dlt, 1 chain, {k(s['small'])} posts", f"{dwall:.2f} s ({s['small'] / dwall / 1000:.1f}k posts/s, {drss:.0f} MB, {dcpu:.1f} s CPU)", "", None)
        line("  chorus vs dlt, wall time", f"{dwall / cwall:.1f} x faster", "(reported)", None)
        line("  chorus vs dlt, peak RSS", f"{drss / crss:.1f} x smaller", "(reported)", None)
    w = [max(len(x[i]) for x in rows) for i in range(4)]
    head = ("measurement", "value", "target", "result")
    w = [max(w[i], len(head[i])) for i in range(4)]
    print()
    print(f"fetch-floor benchmark{' (quick)' if r['quick'] else ''}: {os.cpu_count()} CPUs")
    print("  ".join(h.ljust(w[i]) for i, h in enumerate(head)))
    print("  ".join("-" * w[i] for i in range(4)))
    for x in rows:
        print("  ".join(x[i].ljust(w[i]) for i in range(4)).rstrip())
    print()
    print("all targets met" if ok_all else "some targets missed (see docs/performance.md for what bounds them)")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--report":
        with open(os.path.join(WORK, "results.json")) as f:
            report(json.load(f))
        sys.exit(0)
    sys.exit(main())
