"""Summarise a py-spy ``--format raw`` file (collapsed stacks): where the time goes.

``python -m bench.profiles FILE [--within FUNC] [--top 25]`` prints, per function, the share
of samples in which it is on the stack (inclusive) and on top of it (self); ``--within``
keeps only the samples whose stack holds a frame containing FUNC (e.g. ``OutboxSender.drain``)
and counts shares among those.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>[^)]*)\)$")


def _short(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = match.group("file")
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{match.group('func')} ({path.split(':')[0]})"


def summarise(path: Path, *, within: str = "", top: int = 25) -> str:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = stack.split(";")
        if within and not any(within in frame for frame in frames):
            continue
        count = int(count_text)
        total += count
        seen = {_short(f) for f in frames[1:]}
        for name in seen:
            inclusive[name] += count
        if len(frames) > 1:
            own[_short(frames[-1])] += count
    if not total:
        return "no samples"
    lines = [f"{total} samples{f' with {within!r} on the stack' if within else ''}"]
    lines.append("inclusive:")
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in inclusive.most_common(top)]
    lines.append("self:")
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in own.most_common(top)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profiles", description=__doc__)
    parser.add_argument("file", type=Path)
    parser.add_argument("--within", default="")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    print(summarise(args.file, within=args.within, top=args.top))


if __name__ == "__main__":
    main()
