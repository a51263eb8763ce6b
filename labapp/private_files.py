"""Files that hold secrets (sessions, password hashes, the dev secret key) are readable by their
owner only: 0600 files in a 0700 folder, whatever the umask."""

import os
from pathlib import Path


def private_dir(path: Path) -> Path:
    """The lab's own state folder, created 0700 (tightened to 0700 if it exists)."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty as 0600 if missing (SQLite takes a 0-byte file as a new database and
    gives its journals the same mode), or tighten it to 0600."""
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)
    path.chmod(0o600)
    return path


def sqlite_path(state_dir: Path, legacy: Path) -> Path:
    """Where the default SQLite database lives: ``state_dir``/db.sqlite3. A database an older
    checkout made beside manage.py stays where it is (nothing saved is lost), made 0600."""
    if legacy.exists() and not (state_dir / "db.sqlite3").exists():
        return private_file(legacy)
    return private_file(private_dir(state_dir) / "db.sqlite3")
