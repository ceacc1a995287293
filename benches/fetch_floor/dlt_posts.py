#!/usr/bin/env python3
"""dlt on the benchmark's pages: a plain generator following `paging.next`, into Parquet files.

Usage: dlt_posts.py BASE_URL OUT_DIR PAGE_ID [PAGE_ID ...]
The same requests the chorus connector makes (fields, limit, since/until, Bearer token), one
account after another, `loader_file_format="parquet"` on the filesystem destination.
"""

import os
import sys

import dlt
import requests

FIELDS = (
    "id,created_time,message,story,permalink_url,status_type,shares,"
    "reactions.summary(total_count).limit(0),comments.summary(total_count).limit(0)"
)


def main() -> int:
    base, out, page_ids = sys.argv[1], sys.argv[2], sys.argv[3:]
    session = requests.Session()
    session.headers["Authorization"] = "Bearer " + os.environ.get("BENCH_TOKEN", "x")

    @dlt.resource(name="posts", write_disposition="append", primary_key="id")
    def posts():
        for page_id in page_ids:
            url = f"{base}/v25.0/{page_id}/posts"
            params = {
                "fields": FIELDS,
                "limit": 100,
                "since": 1790812800,
                "until": 1793318400,
            }
            while url:
                resp = session.get(url, params=params)
                resp.raise_for_status()
                page = resp.json()
                yield page.get("data", [])
                url = page.get("paging", {}).get("next")
                params = None

    pipeline = dlt.pipeline(
        pipeline_name="fetch_floor",
        pipelines_dir=os.path.join(out, "pipelines"),
        destination=dlt.destinations.filesystem(bucket_url="file://" + os.path.join(out, "lake")),
        dataset_name="facebook",
    )
    info = pipeline.run(posts(), loader_file_format="parquet")
    rows = pipeline.last_trace.last_normalize_info.row_counts.get("posts", 0)
    print(f"dlt loaded {rows} posts; {info.loads_ids}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
