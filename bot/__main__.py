"""``python -m bot`` is ``edubot``."""

from __future__ import annotations

import sys

from bot.cli import main

sys.exit(main())
