"""The report read as people read it: in a real (headless) Chromium, every image decodes and no script fails.

`.ci/run` installs Debian's `chromium` and sets GENAUG_REQUIRE_BROWSER=1, so there a missing browser fails
instead of skipping. The screenshot is kept (GENAUG_SCREENSHOTS names the folder; default: the test's tmp).
"""

import os
from pathlib import Path

import pytest
from PIL import Image

from genaug.report import browser

BROWSER = browser.find_browser()
needs_browser = pytest.mark.skipif(
    BROWSER is None and not os.environ.get("GENAUG_REQUIRE_BROWSER"),
    reason="no Chromium on PATH (apt-get install chromium)",
)


@needs_browser
def test_the_probe_catches_a_broken_image_and_a_console_error(tmp_path):
    """A control: the check can fail."""
    page = tmp_path / "broken.html"
    page.write_text("<!doctype html><html><head><title>x</title></head><body><h2 id=answer>A</h2>"
                    '<img alt="bad" src="data:image/png;base64,AAAA"><script>console.error("boom")</script>'
                    "</body></html>")
    found = browser.inspect(page)
    assert found["undecoded"] == ["bad"] and found["console"] == ["boom"] and found["errors"]


@needs_browser
@pytest.mark.e2e
def test_the_report_renders_in_chromium_with_every_image_decoded(evaluation_grid, tmp_path):
    report = evaluation_grid / "results" / "report.html"
    found = browser.inspect(report)
    assert found["images"] >= 5, found
    assert found["undecoded"] == [] and found["errors"] == [] and found["console"] == [], found
    assert {"answer", "accuracy", "gains", "genmetrics", "probes", "curves", "samples", "run"} <= set(found["sections"])
    keep = Path(os.environ.get("GENAUG_SCREENSHOTS", tmp_path))
    keep.mkdir(parents=True, exist_ok=True)
    png = browser.screenshot(report, keep / "report.png", width=1280, height=2400)
    with Image.open(png) as shot:
        assert shot.size == (1280, 2400)
        colours = shot.convert("L").resize((64, 120)).getextrema()
    assert colours[1] - colours[0] > 100  # a rendered page, not a blank one
    print(f"screenshot: {png}")
