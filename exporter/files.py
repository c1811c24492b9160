"""Reading the small files a user names (the configuration, the web configuration, secrets) without trusting them.

A path may name a FIFO (the read waits for a writer that never comes), a device such as `/dev/zero` (the
read never ends and eats the memory) or a file of gigabytes by mistake. Each is refused before a byte is
read, so a wrong path is a one-line error instead of a hang. A module of its own at the bottom of the
import order, because the configuration, the web server and the credential sources all read such files.
"""

from __future__ import annotations

import os
import stat


class FileRefusedError(ValueError):
    """The file was not read; the message is a phrase such as "not a regular file" (never the contents)."""


def read_small_file(path: str | os.PathLike[str], limit: int, what: str) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; `what` names the kind of file in the error.

    Opened without blocking and checked on the open descriptor, so there is no window between the check
    and the read. Raises `FileRefusedError` for a file of another type or size, `OSError` when it cannot be
    opened or read.
    """
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise FileRefusedError("not a regular file")
        if info.st_size > limit:
            raise FileRefusedError(f"{info.st_size} bytes is too large for {what} (at most {limit})")
        with os.fdopen(descriptor, "rb", closefd=False) as file:
            data = file.read(limit + 1)  # the size may have grown since the check
    finally:
        os.close(descriptor)
    if len(data) > limit:
        raise FileRefusedError(f"too large for {what} (at most {limit} bytes)")
    return data
