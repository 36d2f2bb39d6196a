"""`make bench`: congvan against the naive way, measured in the same run; writes outputs/bench.json.

Each entry: {"name", "ours_per_s", "baseline_per_s", "ratio"} (ratio = ours / baseline), plus "seconds" for
wall-time rows and the load average when it was measured (the machine may be shared).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_check import bench_check
from bench_import import bench_import
from bench_mail import bench_mail
from bench_pdf import bench_pdf
from bench_render import bench_render
from bench_scale import bench_scale
from bench_sign import bench_sign
from bench_startup import bench_startup

OUT = Path("outputs") / "bench.json"


def record(entries: list[dict[str, object]]) -> None:
    """Merge by name into outputs/bench.json, so each benchmark updates only its own lines."""
    existing: list[dict[str, object]] = []
    if OUT.exists():
        try:
            existing = json.loads(OUT.read_text(encoding="utf-8"))
        except ValueError:
            existing = []
    names = {e["name"] for e in entries}
    merged = [e for e in existing if e.get("name") not in names] + entries
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(merged, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def main() -> None:
    entries = [bench_render(), bench_check(), *bench_pdf(), bench_mail(), *bench_startup(), *bench_import(),
               *bench_scale(), *bench_sign()]
    record(entries)
    for e in entries:
        print(f"{e['name']}: ours {e['ours_per_s']:.1f}/s, baseline {e['baseline_per_s']:.1f}/s, "
              f"ratio {e['ratio']:.2f}x")
        if "seconds" in e:
            target = f" (target {e['target_s']} s)" if "target_s" in e else ""
            print(f"  {e['seconds']} s{target}, load average {e.get('load_average')}")
        if "total_s" in e:
            print(f"  wall time {e['total_s']} s (target {e['target_s']} s): {e['stages_s']}; "
                  f"escalation stages {e['escalation_stages_s']}")
    print(f"written {OUT}")


if __name__ == "__main__":
    main()
