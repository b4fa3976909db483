"""The peer readers' environment: the other tools' own loaders (Ultralytics, labelme, Datumaro) in a venv of
their own, so that the tests can read our exports back with them.

Why a second venv: ultralytics and labelme pull ``opencv-python``, whose bundled Qt clashes with PySide6 in the
main venv. ``peer_python()`` builds ``.venv-peers`` (gitignored) on first use from ``tests/peer-requirements.txt``
and rebuilds it when that file (or the main venv's torch) changes; a file lock keeps parallel test processes
from building it twice. torch is several GB, so the peer venv never gets its own: a ``.pth`` file appends the
main venv's site-packages *after* the peer venv's own (the peer's cv2, numpy, ... win; torch and torchvision
come from the main venv), and a constraint pins torch/torchvision to the main venv's local versions
(``2.x+cuNNN``), which PyPI does not have, so a resolver that wanted another torch fails instead of downloading.

Use ``run_reader("read_ultralytics.py", path)`` in a test: it runs ``tests/peer_readers/<script>`` with the peer
python and returns the JSON object it printed last. ``python -m tests.peers`` builds the venv; ``make test``
does it as its first step (measured: 144 s from nothing on the 2-core dev machine, about 1.2 GB; then instant).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = REPO_ROOT / "tests" / "peer-requirements.txt"
READERS = REPO_ROOT / "tests" / "peer_readers"
PEER_VENV = Path(os.environ.get("DETECTOR_APP_PEER_VENV", REPO_ROOT / ".venv-peers"))
MARKER = ".detector-app-peers"  # written first into a venv we build: only such a folder is ever deleted
TORCH_PACKAGES = ("torch", "torchvision")


class PeerEnvError(RuntimeError):
    """The peer venv could not be built."""


def peer_python() -> Path:
    """The python of the peer venv, built first when missing or out of date (under a file lock)."""
    python = PEER_VENV / "bin" / "python"
    stamp = PEER_VENV / f".built-{_build_key()}"
    if stamp.is_file():
        return python
    PEER_VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(PEER_VENV.parent / f"{PEER_VENV.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second process waits here, then finds the stamp
        if not stamp.is_file():
            _build(python, stamp)
    return python


def run_reader(script: str, *args: str | Path, timeout: float = 600) -> dict[str, Any]:
    """Run ``tests/peer_readers/<script>`` in the peer venv; the JSON object it printed last."""
    python = peer_python()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "QT_"))}
    env["QT_QPA_PLATFORM"] = "offscreen"
    done = subprocess.run([str(python), str(READERS / script), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=str(READERS))
    if done.returncode != 0:
        raise AssertionError(f"{script} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _torch_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in TORCH_PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found


def _build_key() -> str:
    text = REQUIREMENTS.read_bytes() + json.dumps([sys.version, _torch_versions()]).encode()
    return hashlib.sha256(text).hexdigest()[:16]


def _build(python: Path, stamp: Path) -> None:
    started = time.monotonic()
    if PEER_VENV.exists():
        if not (PEER_VENV / MARKER).is_file():
            raise PeerEnvError(f"{PEER_VENV} exists and was not built by tests/peers.py: not touching it")
        shutil.rmtree(PEER_VENV)
    PEER_VENV.mkdir(parents=True)
    (PEER_VENV / MARKER).write_text("built by tests/peers.py from tests/peer-requirements.txt\n")
    _check([sys.executable, "-m", "venv", str(PEER_VENV)])
    site = Path(subprocess.check_output([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                        text=True).strip())
    main_site = sysconfig.get_paths()["purelib"]
    # "zz": .pth files run in name order; this one only appends, so the peer's own packages stay first.
    (site / "zz-detector-app-main-venv.pth").write_text(main_site + "\n")
    constraints = PEER_VENV / "constraints.txt"
    constraints.write_text("".join(f"{name}=={v}\n" for name, v in _torch_versions().items()))
    _check([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input",
            "-r", str(REQUIREMENTS), "-c", str(constraints)])
    own = [name for name in TORCH_PACKAGES if (site / name).exists()]
    if own:
        raise PeerEnvError(f"pip installed {own} into {PEER_VENV}; it must use the main venv's copies")
    stamp.write_text(f"built in {time.monotonic() - started:.0f} s\n")


def _check(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise PeerEnvError(f"{' '.join(command[:4])} ... failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")


if __name__ == "__main__":
    began = time.monotonic()
    print(f"peer venv: {peer_python()} ({time.monotonic() - began:.0f} s)")
