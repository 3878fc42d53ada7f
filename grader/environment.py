"""The student environment, pinned: ``requirements.lock`` and how yours differs from it.

``make release`` writes ``requirements.lock``: the exact version of each package in
``requirements.txt`` as installed where the course was released (``numpy==2.4.6``). The student
edition's Makefile installs ``requirements.txt`` with those pins, and ``make check-hwN`` warns
when the environment it runs in differs, since a test that passes on one NumPy and fails on
another is a question the lock answers before anyone asks it.
"""
from __future__ import annotations

import importlib.metadata
import platform
import re
from pathlib import Path

LOCK = "requirements.lock"


def normalize(name: str) -> str:
    """A package name in PEP 503's normal form, the form a lock is keyed by.

    >>> normalize("Pytest_Timeout")
    'pytest-timeout'
    """
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    """The package a requirement line names, normalized.

    >>> requirement_name("numpy>=1.24")
    'numpy'
    >>> requirement_name("tomli>=2.0; python_version < '3.11'")
    'tomli'
    """
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    if not match:
        raise ValueError(f"not a requirement: {requirement!r}")
    return normalize(match[1])


def installed_version(name: str) -> str | None:
    """The version of package ``name`` installed in this interpreter, or None."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def lock_text(requirements: list[str]) -> tuple[str, list[str]]:
    """``requirements.lock`` for ``requirements`` pinned at this interpreter's versions, and
    the packages left out because they are not installed here."""
    pins, missing = [], []
    for requirement in requirements:
        name = requirement_name(requirement)
        version = installed_version(name)
        if version is None:
            missing.append(name)
        else:
            pins.append(f"{name}=={version}")
    header = (f"# Exact versions of requirements.txt's packages where the course was released\n"
              f"# (Python {platform.python_version()}). `make` installs them; `make check-hwN` "
              f"warns when yours differ.\n")
    left_out = "".join(f"# {name}: not pinned (not installed where the course was released)\n"
                       for name in missing)
    return header + left_out + "".join(pin + "\n" for pin in pins), missing


def read_lock(path: Path) -> dict[str, str]:
    """The pins of a lock file: normalized package name -> exact version.

    Raises:
        ValueError: for a line that is neither a comment nor ``name==version``.
    """
    pins = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*(\S+)", line)
        if not match:
            raise ValueError(f"{path.name}:{number}: expected name==version, found {line!r}")
        pins[normalize(match[1])] = match[2]
    return pins


def differences(lock: Path) -> list[str]:
    """How this interpreter's packages differ from the pins in ``lock``, one message each;
    empty when they match or when there is no lock (the instructor's repository).

    >>> differences(Path("no-such.lock"))
    []
    """
    if not lock.is_file():
        return []
    try:
        pins = read_lock(lock)
    except ValueError as error:
        return [f"cannot compare your packages with the course's: {error}"]
    found = []
    for name, wanted in sorted(pins.items()):
        have = installed_version(name)
        if have is None:
            found.append(f"{name} is not installed; the course pins {name}=={wanted}")
        elif have != wanted:
            found.append(f"{name} {have} is installed; the course pins {name}=={wanted}")
    if found:
        found.append(f"results may differ from the grader's: `pip install -r {lock.name}` "
                     f"(or `rm -rf .venv && make`) installs the course's versions")
    return found
