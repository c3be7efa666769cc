"""A SoftHSM2 token store of the test session's own: a conf file naming a temporary token
directory, ``SOFTHSM2_CONF`` pointing at it, tokens made with ``softhsm2-util``.

SoftHSM reads ``SOFTHSM2_CONF`` and lists its tokens once, when its library is first
initialised in a process: the conf is set for the whole session, tokens are made before the
library is loaded (session fixtures), a conf already set by another part of the session is
reused (its token directory), and tokens get distinct labels.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")


class SoftHsm:
    """The session's token directory and the tokens made in it."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="edoc-hsm-"))
        existing = os.environ.get("SOFTHSM2_CONF")
        self._owns_conf = existing is None
        if existing is None:
            tokens = self.base / "tokens"
            tokens.mkdir()
            self.conf = self.base / "softhsm2.conf"
            self.conf.write_text(
                f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n"
            )
            os.environ["SOFTHSM2_CONF"] = str(self.conf)
        else:
            self.conf = Path(existing)
        found = re.search(r"directories\.tokendir\s*=\s*(\S+)", self.conf.read_text())
        assert found, f"no tokendir in {self.conf}"
        self.tokendir = Path(found.group(1))

    def init_token(self, label: str | None = None, *, pin: str = "5678") -> str:
        """Initialise a token in a free slot and return its label."""
        label = label or f"edoc-{uuid.uuid4().hex[:8]}"
        subprocess.run(
            [
                "softhsm2-util",
                "--init-token",
                "--free",
                "--label",
                label,
                "--so-pin",
                "12345678",
                "--pin",
                pin,
            ],
            check=True,
            capture_output=True,
            timeout=60,
            env={**os.environ, "SOFTHSM2_CONF": str(self.conf)},
        )
        return label

    def close(self) -> None:
        """Remove the token directory this object made (tokens made in a reused one stay)."""
        if self._owns_conf:
            os.environ.pop("SOFTHSM2_CONF", None)
        shutil.rmtree(self.base, ignore_errors=True)
