#!/usr/bin/env python3
"""The README's picture: a report's answer section, as headless Chromium renders it.

    python scripts/answer_picture.py results/report.html docs/img/answer.png

Renders the whole page, finds the answer section (the `answer` heading down to the next heading) and crops
to it. Needs Chromium (Debian's `chromium`).
"""
import argparse
import tempfile
from pathlib import Path

from PIL import Image

from genaug.report import browser


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("report", help="report.html from a finished grid")
    p.add_argument("out", help="the picture (.png)")
    p.add_argument("--width", type=int, default=1100, help="page width in CSS pixels (default 1100)")
    p.add_argument("--section", default="answer", help="the h2 id to crop to (default answer)")
    args = p.parse_args(argv)
    found = browser.inspect(args.report, width=args.width)
    boxes = sorted((box[1], name) for name, box in found["sections"].items() if box)
    tops = [y for y, _ in boxes]
    start = dict((name, y) for y, name in boxes)[args.section]
    end = next((y for y in tops if y > start), found["height"])
    with tempfile.TemporaryDirectory() as tmp:
        shot = browser.screenshot(args.report, Path(tmp) / "page.png", width=args.width, height=int(found["height"]))
        with Image.open(shot) as page:
            section = page.crop((0, max(0, int(start) - 12), args.width, int(end) - 12))
            section.save(args.out, optimize=True)
    print(f"{args.out}: {section.size[0]}x{section.size[1]} px, section {args.section!r} of {args.report}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
