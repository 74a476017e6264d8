"""Atomic writes: the old file or the new one, never half of one, no temporary left."""

from __future__ import annotations

import os
import stat

import pytest

from keel import atomic
from keel.atomic import write_bytes_atomic, write_text_atomic


def test_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("old")
    write_text_atomic(target, "new ✓")
    assert target.read_text("utf-8") == "new ✓"
    assert os.listdir(tmp_path) == ["report.json"]


def test_failed_replace_keeps_the_old_file_and_removes_the_temporary(tmp_path, monkeypatch):
    target = tmp_path / "report.html"
    target.write_text("old report")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_bytes_atomic(target, b"new report")
    assert target.read_text() == "old report"
    assert os.listdir(tmp_path) == ["report.html"]


def test_written_file_is_readable_by_others(tmp_path):
    path = write_bytes_atomic(tmp_path / "junit.xml", b"<x/>")
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
