"""Typed readers for environment variables.

Each helper returns a value of one type or raises ``ImproperlyConfigured`` naming the variable
and the bad value, so a typo in a deployment fails at start-up instead of at the first request.
"""

import os
import re
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# What a queue, a cluster or a host may be called where it becomes part of a Redis key.
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def env_str(name: str, default: str | None = None) -> str | None:
    value = _raw(name)
    return default if value is None else value


def env_required(name: str, why: str) -> str:
    value = _raw(name)
    if value is None:
        raise ImproperlyConfigured(f"{name} must be set: {why}")
    return value


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name}={value!r} is not a boolean: use one of 1/0, true/false, yes/no, on/off"
    )


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    value = _raw(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not an integer") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} is below the minimum {minimum}")
    if maximum is not None and number > maximum:
        raise ImproperlyConfigured(f"{name}={number} is above the maximum {maximum}")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    """A comma-separated list; empty items are refused so that "a,,b" is caught."""
    value = _raw(name)
    if value is None:
        return list(default)
    items = [item.strip() for item in value.split(",")]
    if any(item == "" for item in items):
        raise ImproperlyConfigured(f"{name}={value!r} has an empty item between commas")
    return items


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = _raw(name)
    if value is None:
        return default
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} is not one of: {', '.join(choices)}")
    return value


def env_url(name: str, default: str | None, schemes: tuple[str, ...]) -> str | None:
    value = _raw(name)
    if value is None:
        return default
    scheme, sep, rest = value.partition("://")
    if not sep or scheme not in schemes or not rest:
        raise ImproperlyConfigured(
            f"{name}={value!r} is not a URL with one of the schemes: {', '.join(schemes)}"
        )
    return value


def env_log_level(name: str, default: str) -> str:
    """One of Python's logging level names, in any case."""
    value = _raw(name)
    if value is None:
        return default
    if value.upper() not in LOG_LEVELS:
        raise ImproperlyConfigured(f"{name}={value!r} is not a log level: use one of {', '.join(LOG_LEVELS)}")
    return value.upper()


def env_name(name: str, default: str) -> str:
    """A short identifier: letters, digits, '.', '_' and '-', starting with a letter or digit."""
    value = _raw(name)
    if value is None:
        return default
    if not _SAFE_NAME.fullmatch(value):
        raise ImproperlyConfigured(
            f"{name}={value!r} is not a safe name: use up to 100 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return value


def env_dir(name: str, default: Path) -> Path:
    """An absolute directory path (``~`` expanded); one that exists must be a directory.

    Relative paths are refused: the web server, the worker and manage.py may run from
    different folders and must agree on the place.
    """
    value = _raw(name)
    if value is None:
        return default
    path = Path(value).expanduser()
    if not path.is_absolute():
        raise ImproperlyConfigured(f"{name}={value!r} is not an absolute path")
    if path.exists() and not path.is_dir():
        raise ImproperlyConfigured(f"{name}={value!r} exists and is not a directory")
    return path
