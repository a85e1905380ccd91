"""Where the buf CLI is: the pinned npm package @bufbuild/buf (package.json), installed into
node_modules/ by `make node_modules/.installed` (a dependency of `make proto-lint` and `make test`).

    from tests.buf_tool import buf_binary
    buf = buf_binary()  # None when not installed: skip, naming the make target
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INSTALL_HINT = "buf is not installed: run `make node_modules/.installed` (needs Node.js and npm)"


def buf_binary() -> Path | None:
    """The repository's node_modules/.bin/buf if it is installed and executable, else None."""
    path = ROOT / "node_modules" / ".bin" / "buf"
    return path if path.is_file() and os.access(path, os.X_OK) else None
