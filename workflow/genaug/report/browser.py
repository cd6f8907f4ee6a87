"""Open a report in a real headless Chromium: what the page reports about itself, and a screenshot.

The report is one self-contained HTML file read by people in a browser, so a test must read it the same way:
every image decodes, no script error, nothing fails to load. No browser-driver dependency: a probe script is
put at the top of a copy of the page, runs on load, and writes its findings into the DOM, which Chromium's
`--dump-dom` prints.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..errors import GenaugError

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

PROBE = """<script>
(function () {
  var found = {errors: [], console: []};
  window.addEventListener('error', function (e) {
    var t = e.target;
    found.errors.push(t && t !== window && t.tagName
      ? t.tagName.toLowerCase() + ' failed to load: ' + String(t.src || t.href || '').slice(0, 60)
      : String(e.message));
  }, true);
  var consoleError = console.error;
  console.error = function () {
    found.console.push(Array.prototype.join.call(arguments, ' '));
    consoleError.apply(console, arguments);
  };
  window.addEventListener('load', function () {
    var images = Array.prototype.slice.call(document.images);
    var box = function (id) {
      var el = document.getElementById(id);
      if (!el) { return null; }
      var r = el.getBoundingClientRect();
      return [r.left + window.scrollX, r.top + window.scrollY, r.width, r.height];
    };
    var sections = {};
    Array.prototype.forEach.call(document.querySelectorAll('h2[id]'), function (h) { sections[h.id] = box(h.id); });
    var out = document.createElement('pre');
    out.id = 'genaug-browser-probe';
    out.textContent = JSON.stringify({
      images: images.length,
      undecoded: images.filter(function (i) { return !(i.complete && i.naturalWidth > 0); })
                       .map(function (i) { return (i.alt || String(i.src).slice(0, 60)); }),
      errors: found.errors, console: found.console, sections: sections,
      height: document.documentElement.scrollHeight});
    document.body.appendChild(out);
  });
})();
</script>"""


def find_browser() -> str | None:
    """The first Chromium-family browser on PATH (GENAUG_BROWSER names another)."""
    named = os.environ.get("GENAUG_BROWSER")
    if named:
        return shutil.which(named) or named
    return next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)


def _run(browser: str, args: list[str], timeout: float) -> subprocess.CompletedProcess:
    base = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
            "--no-first-run", "--disable-extensions", "--force-device-scale-factor=1"]
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([*base, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                              timeout=timeout)


def _with_probe(html: Path, folder: Path) -> Path:
    page = html.read_text(encoding="utf-8")
    head = re.search(r"<head[^>]*>", page, re.I)
    at = head.end() if head else 0
    probed = folder / html.name
    probed.write_text(page[:at] + PROBE + page[at:], encoding="utf-8")
    return probed


def inspect(html: str | Path, browser: str | None = None, timeout: float = 120, width: int = 1280) -> dict:
    """Load `html` in headless Chromium, `width` CSS pixels wide; returns what the probe saw: image count, images
    that did not decode, load and script errors, console errors, each h2 section's box (x, y, width, height) and
    the page height."""
    browser = browser or find_browser()
    if browser is None:
        raise GenaugError("no Chromium found: install Debian's `chromium` or set GENAUG_BROWSER")
    with tempfile.TemporaryDirectory() as folder:
        probed = _with_probe(Path(html), Path(folder))
        r = _run(browser, [f"--window-size={width},1000", "--virtual-time-budget=10000", "--dump-dom",
                           probed.as_uri()], timeout)
    found = re.search(r'<pre id="genaug-browser-probe">(.*?)</pre>', r.stdout, re.S)
    if r.returncode != 0 or found is None:
        raise GenaugError(f"{browser} did not render {html} (exit {r.returncode}): {r.stderr[-1500:]}")
    text = found.group(1).replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")
    return json.loads(text)


def screenshot(html: str | Path, png: str | Path, width: int = 1280, height: int | None = None,
               browser: str | None = None, timeout: float = 120) -> Path:
    """A screenshot of `html` at `width` CSS pixels, the whole page unless `height` is given."""
    browser = browser or find_browser()
    height = height or int(inspect(html, browser, timeout, width)["height"])
    png = Path(png)
    r = _run(browser, [f"--window-size={width},{height}", "--virtual-time-budget=10000",
                       f"--screenshot={png.resolve()}", Path(html).resolve().as_uri()], timeout)
    if r.returncode != 0 or not png.exists():
        raise GenaugError(f"{browser} made no screenshot of {html} (exit {r.returncode}): {r.stderr[-1500:]}")
    return png
