"""Time `prepare` on a folder of large photos: N JPEGs of W x H pixels, written once into a temp folder.

    python scripts/bench_folder_read.py --images 80 --out folder_read.json [--colour]

Grey photos saved as RGB are the slow case (every image is decoded for the colour check); colour photos end
that check at the first image. Writes the seconds of the whole `prepare` and the log's last lines to --out.
"""
from __future__ import annotations

import argparse
import io
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))


def write_photos(root: Path, n: int, size: tuple[int, int], colour: bool) -> None:
    rng = np.random.default_rng(0)
    w, h = size
    ramp = np.linspace(0, 255, w)[None, :, None] * np.ones((h, 1, 3))
    for i in range(n):
        c = "ab"[i % 2]
        (root / c).mkdir(parents=True, exist_ok=True)
        a = ramp + rng.normal(0, 20, (h, 1, 1)) + (c == "b") * 40
        if colour:
            a[..., 0] *= 0.8
        Image.fromarray(a.clip(0, 255).astype(np.uint8)).save(root / c / f"{i}.jpg", quality=90)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=80)
    p.add_argument("--width", type=int, default=4000)
    p.add_argument("--height", type=int, default=3000)
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--colour", action="store_true", help="colour photos (default: grey photos saved as RGB)")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    from genaug import stages
    from genaug.device import cpu_name

    with tempfile.TemporaryDirectory(prefix="genaug-folder-read-") as d:
        write_photos(Path(d) / "imgs", args.images, (args.width, args.height), args.colour)
        log = io.StringIO()
        t0 = time.perf_counter()
        stages.prepare(dataset="folder", data_dir=Path(d) / "imgs", image_size=args.image_size,
                       out=Path(d) / "ds.npz", log=log)
        seconds = time.perf_counter() - t0
    result = {"images": args.images, "pixels": [args.width, args.height], "colour": args.colour,
              "image_size": args.image_size, "prepare_s": round(seconds, 2),
              "per_image_s": round(seconds / args.images, 4), "cpu": cpu_name(), "python": platform.python_version(),
              "log_tail": log.getvalue().splitlines()[-4:]}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
