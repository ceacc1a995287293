#!/usr/bin/env python3
"""Writes Graph API Page-posts pages as static files for the fetch-floor benchmark.

One dataset is a folder `<out>/<name>/` holding, per account (a Facebook Page id), the pages of
one cursor chain: `first.json` answers the connector's first request
(`/v25.0/<page>/posts?fields=...&since=...&until=...`), and `<cursor>.json` answers the request
whose `after` is `<cursor>`. Every page is shaped like the Graph API's answer to the fields the
`facebook_pages` connector asks for (see `connectors/meta/src/pages.rs`, `POST_FIELDS`, and the
sandbox's `/meta` platform): `data` with 100 posts, `paging.cursors.before/after` and
`paging.next`, an absolute URL carrying every parameter and the `after` cursor; the last page has
no `next`. nginx maps `after` back to a file (see nginx.conf.in).

`<out>/<name>/urls/<page>.txt` lists the chain's URLs in order, for the curl floor.

Usage: gen.py --out DIR --name NAME --base-url URL --accounts K --posts N [--page-size 100]
"""

import argparse
import base64
import json
import os
import random
import sys
import time

PAGE_BASE = 104857600000000
SINCE = 1790812800  # 2026-10-01T00:00:00Z
UNTIL = SINCE + 29 * 86400  # one 30-day slice of the connector
FIELDS = (
    "id,created_time,message,story,permalink_url,status_type,shares,"
    "reactions.summary(total_count).limit(0),comments.summary(total_count).limit(0)"
)
WORDS = (
    "fresh single origin beans just landed come taste the new ethiopia roast our weekend "
    "cupping session is open to everyone behind scenes how we dial in espresso blend thank "
    "you for years of mornings together seasonal menu here which drink are trying first latte "
    "art throwdown this friday at 7pm hiring baristas location rainy day cold brew delivery on "
    "us today"
).split()
STORIES = [
    "Chorus Bench Coffee Roasters updated their cover photo.",
    "Chorus Bench Coffee Roasters added a new photo.",
    "Chorus Bench Coffee Roasters shared a memory.",
]
STATUS = ["added_photos", "mobile_status_update", "added_video", "shared_story"]


def cursor(account: int, page: int) -> str:
    """An opaque, Graph-like cursor (base64, URL-safe, about 90 characters)."""
    raw = f"chorus-bench:{account:04d}:{page:08d}:".encode() + bytes(range(40, 88))
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def post(rng: random.Random, page_id: int, number: int, created: int) -> str:
    pid = f"{page_id}_{122100000000000000 + number * 1009 + rng.randrange(1000)}"
    parts = [
        f'"id":"{pid}"',
        '"created_time":"' + time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime(created)) + '"',
    ]
    story_only = rng.random() < 0.2
    if not story_only:
        n = rng.randrange(6, 45)
        text = " ".join(rng.choice(WORDS) for _ in range(n)).capitalize()
        variant = "variant_a" if number % 2 == 0 else "variant_b"
        msg = (
            f"{text}. https://shop.example.com/beans?utm_source=facebook&utm_medium=social"
            f"&utm_campaign=autumn_roast&utm_content={variant}"
        )
        parts.append('"message":' + json.dumps(msg))
    if story_only or rng.random() < 0.15:
        parts.append('"story":' + json.dumps(rng.choice(STORIES)))
    num = pid.split("_")[1]
    parts.append(f'"permalink_url":"https://www.facebook.com/{page_id}/posts/{num}"')
    parts.append(f'"status_type":"{"added_photos" if story_only else rng.choice(STATUS)}"')
    if rng.random() >= 0.35:
        parts.append(f'"shares":{{"count":{1 + rng.randrange(60)}}}')
    parts.append(
        f'"reactions":{{"data":[],"summary":{{"total_count":{rng.randrange(500)},'
        '"viewer_reaction":"NONE"}}'
    )
    parts.append(
        f'"comments":{{"data":[],"summary":{{"order":"ranked","total_count":{rng.randrange(80)},'
        '"can_comment":true}}'
    )
    return "{" + ",".join(parts) + "}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--base-url", required=True, help="http://127.0.0.1:PORT (no dataset)")
    ap.add_argument("--accounts", type=int, default=1)
    ap.add_argument("--posts", type=int, required=True, help="posts per account")
    ap.add_argument("--page-size", type=int, default=100)
    args = ap.parse_args()

    root = os.path.join(args.out, args.name)
    os.makedirs(os.path.join(root, "urls"), exist_ok=True)
    pages_per_account = -(-args.posts // args.page_size)
    total_bytes = 0
    for a in range(args.accounts):
        page_id = PAGE_BASE + a + 1
        rng = random.Random(f"{args.name}:{a}")
        folder = os.path.join(root, str(page_id))
        os.makedirs(folder, exist_ok=True)
        edge = f"{args.base_url}/{args.name}/v25.0/{page_id}/posts"
        common = (
            f"fields={FIELDS.replace(',', '%2C').replace('(', '%28').replace(')', '%29')}"
            f"&limit={args.page_size}&since={SINCE}&until={UNTIL}"
        )
        urls = [f"{edge}?{common}"]
        step = max(1, (UNTIL - SINCE) // max(1, args.posts))
        number = 0
        for p in range(pages_per_account):
            count = min(args.page_size, args.posts - p * args.page_size)
            # Newest first, as the Graph API pages posts.
            data = []
            for _ in range(count):
                created = UNTIL - 1 - number * step
                data.append(post(rng, page_id, number, max(created, SINCE)))
                number += 1
            paging = {"cursors": {"before": cursor(a, p) + "B", "after": cursor(a, p)}}
            if p > 0:
                paging["previous"] = f"{edge}?{common}&before={cursor(a, p)}B"
            if p + 1 < pages_per_account:
                paging["next"] = f"{edge}?{common}&after={cursor(a, p)}"
                urls.append(paging["next"])
            body = '{"data":[' + ",".join(data) + '],"paging":' + json.dumps(paging, separators=(",", ":")) + "}"
            name = "first.json" if p == 0 else f"{cursor(a, p - 1)}.json"
            with open(os.path.join(folder, name), "w") as f:
                f.write(body)
            total_bytes += len(body)
        with open(os.path.join(root, "urls", f"{page_id}.txt"), "w") as f:
            f.write("\n".join(urls) + "\n")
    with open(os.path.join(root, "meta.json"), "w") as f:
        json.dump(
            {
                "accounts": args.accounts,
                "posts_per_account": args.posts,
                "pages_per_account": pages_per_account,
                "page_ids": [PAGE_BASE + a + 1 for a in range(args.accounts)],
                "bytes": total_bytes,
                "base_url": f"{args.base_url}/{args.name}",
            },
            f,
        )
    print(
        f"{args.name}: {args.accounts} account(s) x {args.posts} posts, "
        f"{args.accounts * pages_per_account} pages, {total_bytes / 1e6:.1f} MB",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
