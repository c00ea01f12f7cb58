"""File names on disk (issue 17, item 6): made safe and cut to the filesystem's limit in
bytes, never inside a character and never losing the extension."""

from __future__ import annotations

from pathlib import Path

import pytest

from handlers.files import safe_name, store_submission_file

LONG_CJK = "报" * 100 + ".docx"  # 300 + 5 bytes


@pytest.mark.parametrize(
    ("name", "max_bytes", "expect"),
    [
        ("终稿.docx", 255, "终稿.docx"),
        ("../../etc/passwd", 255, "_.._etc_passwd"),  # no separator left: cannot climb
        ("a/b\\c:d", 255, "a_b_c_d"),
        ("", 255, "文件"),
        (LONG_CJK, 255, "报" * 83 + ".docx"),  # 83 × 3 + 5 = 254: the 84th would not fit
        (LONG_CJK, 20, "报" * 5 + ".docx"),
        ("x" * 300, 255, "x" * 255),
        ("报告." + "长" * 100, 30, "报告." + "长" * 7),  # a 'suffix' of 300 bytes is no extension
    ],
    ids=["short", "traversal", "separators", "empty", "cjk-255", "cjk-20", "ascii", "dot-in-name"],
)
def test_safe_name_fits_the_byte_limit(name: str, max_bytes: int, expect: str) -> None:
    got = safe_name(name, max_bytes=max_bytes)
    assert got == expect
    assert len(got.encode()) <= max_bytes


@pytest.mark.parametrize("version", [1, 12, 1000])
def test_a_long_name_is_written_and_named_as_sent(tmp_path: Path, version: int) -> None:
    stored = store_submission_file(
        tmp_path,
        deadline_key="k" * 300,
        owner="瑞泉中学" * 40,
        version=version,
        name=LONG_CJK,
        content=b"doc",
    )
    assert stored.name == LONG_CJK
    on_disk = tmp_path / stored.relative_path
    assert on_disk.read_bytes() == b"doc"
    assert on_disk.name.startswith(f"{version}-报")
    assert on_disk.suffix == ".docx"
    assert all(len(part.encode()) <= 255 for part in Path(stored.relative_path).parts)
