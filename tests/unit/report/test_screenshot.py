"""scripts/screenshot_report.py renders a sample report and screenshots it with Chromium."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# CI installs Chromium and sets APO_REQUIRE_CHROMIUM=1: there a missing browser fails the test.
REQUIRED = os.environ.get("APO_REQUIRE_CHROMIUM") == "1"
SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "screenshot_report.py"


@pytest.mark.skipif(
    not CHROMIUM.exists() and not REQUIRED,
    reason="no /usr/bin/chromium (apt-get install -y chromium)",
)
def test_screenshot_script_writes_a_png(tmp_path: Path) -> None:
    png, html = tmp_path / "report.png", tmp_path / "report.html"
    subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(png), "--html", str(html),
         "--chromium", str(CHROMIUM)],
        check=True,
        capture_output=True,
        timeout=240,
    )  # fmt: skip
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1200, 2000)
    assert '<section id="lineage">' in html.read_text(encoding="utf-8")
