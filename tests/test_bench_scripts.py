"""The folder benchmarks in scripts/ run at a tiny size and write the records their docs describe."""

import json
import os
import subprocess
import sys

from .helpers import BIN, REPO


def run_script(name, tmp_path, *args):
    out = tmp_path / f"{name}.json"
    env = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}  # the script's snakemake
    r = subprocess.run([sys.executable, str(REPO / "scripts" / name), *args, "--out", str(out)], cwd=tmp_path,
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    return json.loads(out.read_text())


def test_bench_folder_listing_times_the_manifest_the_counts_and_a_dry_run(tmp_path):
    rec = run_script("bench_folder_listing.py", tmp_path, "--images", "700", "--repeats", "1", "--sizes", "100")
    assert rec["files"] == 700 and rec["repeats"] == 1 and rec["sizes"] == [100]
    assert all(rec[k] > 0 for k in ("manifest_s", "class_counts_s", "snakemake_dry_run_s"))


def test_bench_folder_read_times_prepare_on_photos(tmp_path):
    rec = run_script("bench_folder_read.py", tmp_path, "--images", "10", "--width", "64", "--height", "48",
                     "--image-size", "16")
    assert rec["images"] == 10 and rec["prepare_s"] > 0 and rec["pixels"] == [64, 48]
