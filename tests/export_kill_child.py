"""Runs ``detector-app`` commands in forked children and kills them with SIGKILL (the export fault tests).

The CLI is imported once here; each request forks a child that runs ``main(argv)``, so a run costs no
interpreter start-up and the kill lands inside the command itself. One JSON request per stdin line:

    {"argv": [...], "kill_after": seconds or null, "die_at": n or null, "inside": folder or null, "fork": bool}

``"fork": false`` runs the command in this process, unkilled: the first run warms the caches (SQLAlchemy's
compiled statements, lazily imported modules) that every later child then inherits.

``kill_after`` kills the child after that many seconds (if it is still running); ``die_at`` makes the child
SIGKILL itself just before its n-th file system change (replace, rename, unlink, mkdir, rmdir) inside the
folder ``inside`` (or made relative to a folder descriptor, as ``shutil.rmtree`` does), so every step of a
publish can be hit. One JSON answer per line: {"killed": bool, "rc": int or null, "seconds": float}.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import sys
import time


def _die_at(n: int, inside: str) -> None:
    count = [0]

    def wrap(name: str) -> None:
        real = getattr(os, name)

        def counted(path, *args, **kwargs):
            if kwargs.get("dir_fd") is not None or os.fspath(path).startswith(inside):
                count[0] += 1
                if count[0] >= n:
                    os.kill(os.getpid(), signal.SIGKILL)
            return real(path, *args, **kwargs)

        setattr(os, name, counted)

    for name in ("replace", "rename", "unlink", "mkdir", "rmdir"):
        wrap(name)


def _run(request: dict) -> dict:
    from detector_app.cli.main import main

    sys.stdout.flush()
    start = time.monotonic()
    if request.get("fork") is False:
        with contextlib.redirect_stdout(io.StringIO()):
            code = main(request["argv"])
        return {"killed": False, "rc": code, "seconds": time.monotonic() - start}
    pid = os.fork()
    if pid == 0:  # the child: the command, with its output out of the protocol's way
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        if request.get("die_at"):
            _die_at(int(request["die_at"]), str(request["inside"]))
        try:
            code = main(request["argv"])
        except BaseException:
            code = 99
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    deadline = None if request.get("kill_after") is None else start + float(request["kill_after"])
    killed = False
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if deadline is not None and time.monotonic() >= deadline and not killed:
            os.kill(pid, signal.SIGKILL)
            killed = True
        time.sleep(0.002)
    if os.WIFSIGNALED(status):
        return {"killed": True, "rc": None, "seconds": time.monotonic() - start}
    return {"killed": False, "rc": os.WEXITSTATUS(status), "seconds": time.monotonic() - start}


def serve() -> None:
    from detector_app.cli.main import build_parser

    build_parser()  # imports every command module once, before the first fork
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(_run(json.loads(line))), flush=True)


if __name__ == "__main__":
    serve()
