"""Reading the TOML files people write (plans, stations): errors that name the file, the line and the key.

`tomllib` parses but forgets where things were; `line_of` finds a key's line again from the text, so a
wrong value in a valid file can be reported as precisely as a syntax error.
"""
from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from labbench.errors import ConfigError

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\[\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_.-]+)\s*=""")
_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")


def _split_key(dotted: str) -> tuple[str, ...]:
    return tuple(part.strip().strip("\"'") for part in dotted.split("."))


class _Walker:
    """Follows table headers line by line: which table (with array indices) each line belongs to."""

    def __init__(self):
        self.current: tuple = ()
        self.arrays: dict[tuple, int] = {}

    def header(self, raw: str) -> bool:
        match = _HEADER.match(raw)
        if not match:
            return False
        names = _split_key(match.group(2))
        path: tuple = ()
        for i, name in enumerate(names):
            path = path + (name,)
            last = i == len(names) - 1
            if last and match.group(1) == "[[":
                self.arrays[path] = self.arrays.get(path, -1) + 1
            if path in self.arrays:
                path = path + (self.arrays[path],)
        self.current = path
        return True


def line_of(text: str, table: tuple = (), key: str | None = None) -> int:
    """1-based line where `key` is set inside `table` (or the table's header when key is None); 0 if absent.

    `table` is a path of names and array indices: () top level, ("scope",), ("step", 2) for the third
    [[step]], ("step", 2, "set") for its [step.set]. Inline tables (`set = { a = 1 }`) count as the line
    of their key.
    """
    table = tuple(table)
    walker = _Walker()
    inline_parent = table[:-1] if table and isinstance(table[-1], str) else None
    for number, raw in enumerate(text.splitlines(), 1):
        if walker.header(raw):
            if key is None and walker.current == table:
                return number
            continue
        match = _KEY.match(raw)
        if not match:
            continue
        dotted = _split_key(match.group(1))
        where = walker.current + dotted[:-1]
        if key is not None and where == table and dotted[-1] == key:
            return number
        if inline_parent is not None and where == inline_parent and dotted[-1] == table[-1]:
            if key is None or re.search(rf"[{{,]\s*\"?{re.escape(key)}\"?\s*=", raw):
                return number
    return 0


def describe_key(table: tuple, key: str | None = None) -> str:
    """`step[2].set.ber` style name of a key, for messages (array indices counted from 1)."""
    parts = []
    for item in table:
        if isinstance(item, int):
            parts[-1] = f"{parts[-1]}[{item + 1}]"
        else:
            parts.append(str(item))
    if key is not None:
        parts.append(key)
    return ".".join(parts)


def read_toml(path: str | Path, what: str) -> tuple[dict[str, Any], str]:
    """Parse one TOML file; a syntax error becomes a ConfigError naming the file, line and key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except IsADirectoryError:
        raise ConfigError(f"{what} {path}: is a folder, not a TOML file") from None
    except OSError as exc:
        raise ConfigError(f"{what} {path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what} {path}: not a TOML text file (byte {exc.start} is not UTF-8)") from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        position = _POSITION.search(message)
        if not position:
            raise ConfigError(f"{what} {path}: {message}") from None
        number = int(position.group(1))
        reason = message[:position.start()]
        lines = text.splitlines()
        source = lines[number - 1] if 0 < number <= len(lines) else ""
        walker = _Walker()
        for raw in lines[:number - 1]:
            walker.header(raw)
        match = _KEY.match(source)
        if match:
            where = f", key '{describe_key(walker.current, '.'.join(_split_key(match.group(1))))}'"
        elif walker.current:
            where = f", in [{describe_key(walker.current)}]"
        else:
            where = ""
        raise ConfigError(f"{what} {path}, line {number}{where}: {reason} (column {position.group(2)}): "
                          f"{source.strip()!r}") from None
