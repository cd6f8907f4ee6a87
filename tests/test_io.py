"""Atomic outputs: a failure half-way leaves neither a partial file nor a temp file."""

import os

import pytest

from genaug.io import atomic_path, save_npz, write_json


def test_failed_write_leaves_nothing(tmp_path):
    target = tmp_path / "out" / "metrics.json"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("{half")
            raise RuntimeError("killed")
    assert list((tmp_path / "out").iterdir()) == []


def test_failed_write_keeps_the_previous_file(tmp_path):
    target = tmp_path / "metrics.json"
    write_json(target, {"accuracy": 0.8})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("{half")
            raise RuntimeError("killed")
    assert target.read_text().strip().startswith("{") and "0.8" in target.read_text()


def test_npz_keeps_its_name_and_gets_normal_permissions(tmp_path):
    save_npz(tmp_path / "s0.npz", a=[1, 2])
    assert [p.name for p in tmp_path.iterdir()] == ["s0.npz"]
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "s0.npz").stat().st_mode & 0o777 == 0o666 & ~umask


def test_text_outputs_are_utf8_in_an_ascii_locale(tmp_path):
    """The report declares UTF-8 and holds a folder dataset's class names ('zéro'); a cluster node whose locale
    is plain C (no UTF-8 coercion) must not fail writing it, nor write another encoding."""
    import subprocess
    import sys

    out = tmp_path / "page.html"
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}
    code = f"from genaug.io import write_text; write_text({str(out)!r}, 'z\\u00e9ro \\u2713')"
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == "zéro ✓".encode("utf-8")
