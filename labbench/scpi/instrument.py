"""The base of every simulated instrument: parses program messages, dispatches them to the
command table, keeps the error queue and the IEEE 488.2 status registers.

A simulator never dies on input: anything malformed becomes the standard SCPI error in its queue.
"""
from __future__ import annotations

import logging
import threading
from typing import Any

from labbench.scpi.commands import (
    SCPI_ERRORS,
    Action,
    Command,
    Query,
    ScpiCommandError,
    match_header,
    split_outside_quotes,
    split_params,
)

log = logging.getLogger("labbench.sim")

ERROR_QUEUE_DEPTH = 30

# ESR bits (IEEE 488.2 11.5.1)
ESR_OPC, ESR_QYE, ESR_DDE, ESR_EXE, ESR_CME, ESR_PON = 1, 4, 8, 16, 32, 128


def _esr_bit_for(code: int) -> int:
    if -199 <= code <= -100:
        return ESR_CME
    if -299 <= code <= -200:
        return ESR_EXE
    if -399 <= code <= -300:
        return ESR_DDE
    if -499 <= code <= -400:
        return ESR_QYE
    return 0


class SimInstrument:
    """Command table + state + error queue. Subclasses add commands and a physics model.

    `error_string_default`: Infiniium answers `:SYSTem:ERRor?` with the number alone unless `STRing`
    is asked for; X-series instruments answer `<code>,"<text>"`. Set per family.
    """

    idn: tuple[str, str, str, str] = ("LABBENCH", "SIM", "0", "0.0")
    error_string_default = True
    commands: list[Command] = []

    def __init__(self) -> None:
        self.state: dict[tuple, Any] = {}
        self.errors: list[tuple[int, str]] = []
        self.esr = ESR_PON
        self.lock = threading.RLock()
        self._all_commands = self._common_commands() + list(self.commands)
        self._index = self._build_index(self._all_commands)

    # ------------------------------------------------------------ state helpers
    def get(self, name: str, *suffixes, default: Any = None) -> Any:
        return self.state.get((name, *suffixes), default)

    def set(self, name: str, *suffixes_and_value) -> None:
        *suffixes, value = suffixes_and_value
        self.state[(name, *suffixes)] = value

    def reset(self) -> None:
        """`*RST`: every setting back to its default."""
        self.state.clear()

    # ------------------------------------------------------------ error queue
    def push_error(self, code: int, detail: str = "") -> None:
        text = SCPI_ERRORS.get(code, "Error")
        if detail:
            text = f"{text}; {detail}"
        if len(self.errors) >= ERROR_QUEUE_DEPTH:
            self.errors[-1] = (-350, SCPI_ERRORS[-350])
        else:
            self.errors.append((code, text))
        self.esr |= _esr_bit_for(code)
        log.debug("%s error %d %s", self.idn[1], code, text)

    def pop_error(self) -> tuple[int, str]:
        return self.errors.pop(0) if self.errors else (0, SCPI_ERRORS[0])

    # ------------------------------------------------------------ common commands
    def _common_commands(self) -> list[Command]:
        def err_query(sim, sfx, params):
            code, text = sim.pop_error()
            want_string = sim.error_string_default or (params and params[0].upper().startswith("STR"))
            if want_string:
                return f'{code:+d},"{text}"'
            return f"{code:+d}"

        def esr(sim, sfx, params):
            value, sim.esr = sim.esr, 0
            return str(value)

        def cls(sim, sfx, params):
            sim.errors.clear()
            sim.esr = 0

        def rst(sim, sfx, params):
            sim.reset()

        def opc_set(sim, sfx, params):
            sim.esr |= ESR_OPC  # every operation completes before the next command is parsed

        def stb(sim, sfx, params):
            return str((4 if sim.errors else 0) | (32 if sim.esr else 0))

        return [
            Query("*IDN", lambda sim, sfx, p: ",".join(sim.idn)),
            Action("*RST", rst),
            Action("*CLS", cls),
            Command("*OPC", on_set=opc_set, on_query=lambda sim, sfx, p: "1"),
            Action("*WAI", lambda sim, sfx, p: None),
            Query("*ESR", esr),
            Query("*STB", stb),
            Query("*OPT", lambda sim, sfx, p: sim.options()),
            Command(":SYSTem:ERRor[:NEXT]", on_query=err_query),
            Query(":SYSTem:ERRor:COUNt", lambda sim, sfx, p: str(len(sim.errors))),
            Action(":SYSTem:HEADer", lambda sim, sfx, p: sim.set("header", (p or ["0"])[0].upper() in ("ON", "1"))),
        ]

    def options(self) -> str:
        return '""'

    # ------------------------------------------------------------ hooks the TCP server calls
    faults = None   # a labbench.scpi.faults.FaultInjector, installed by SimServer from the profile

    def on_connect(self) -> bool:
        """False refuses the connection (fault injection)."""
        return self.faults is None or self.faults.on_connect()

    def on_message(self, line: str) -> None:
        """Called with each program message before it is handled."""
        if self.faults is not None:
            self.faults.on_message(line)

    def send_reply(self, conn, parts: list[bytes]) -> bool:
        """Send a reply on the connection; False closes it. Faults may cut, stall or corrupt it."""
        if self.faults is not None:
            return self.faults.send_reply(conn, parts)
        for part in parts:
            conn.sendall(part)
        return True

    @staticmethod
    def _build_index(commands: list[Command]) -> dict[str, list[Command]]:
        """Commands indexed by the short form of their first node, for fast dispatch."""
        index: dict[str, list[Command]] = {}
        for cmd in commands:
            first = cmd.nodes[0]
            keys = {first.long, first.short}
            for key in keys:
                index.setdefault(key, []).append(cmd)
            if first.optional and len(cmd.nodes) > 1:
                for key in {cmd.nodes[1].long, cmd.nodes[1].short}:
                    index.setdefault(key, []).append(cmd)
        return index

    def find(self, mnemonics: list[str]) -> tuple[Command, list[int | None]] | None:
        first = mnemonics[0].upper()
        candidates = self._index.get(first) or self._index.get(first.rstrip("0123456789"), [])
        for cmd in candidates:
            suffixes = match_header(cmd.nodes, mnemonics)
            if suffixes is not None:
                return cmd, suffixes
        return None

    # ------------------------------------------------------------ message handling
    def handle_message(self, line: str) -> list[bytes] | None:
        """Execute one program message (one line, `;`-joined units).

        Returns the reply as a list of byte strings to send in order (kept apart so a 200 MB block is
        never copied into one joined buffer), or None when the message held no query.
        """
        with self.lock:
            replies: list[bytes] = []
            path: list[str] = []
            unanswered_query = False
            for unit in _split_units(line):
                try:
                    reply, path = self._execute(unit, path)
                except ScpiCommandError as exc:
                    self.push_error(exc.code, exc.detail)
                    unanswered_query |= _is_query(unit)
                    continue
                except Exception as exc:  # a model bug must not kill the instrument
                    log.exception("simulator fault on %r", unit)
                    self.push_error(-200, f"{type(exc).__name__}: {exc}"[:120])
                    continue
                if reply is not None:
                    # a handler may return several byte strings (a block header and a view of the
                    # payload) so a large block is sent without being copied
                    replies.append(reply if isinstance(reply, (bytes, list)) else reply.encode())
            if not replies:
                if unanswered_query:
                    # The controller now reads a reply that will never come. Over VXI-11/USBTMC the
                    # instrument sees that read and queues -420; a raw socket carries no read request,
                    # so the simulator queues it here (the queue then matches keyoscacquire#3).
                    self.push_error(-420, "no reply to read")
                return None
            parts: list[bytes] = []
            for i, reply in enumerate(replies):
                if i:
                    parts.append(b";")
                if isinstance(reply, list):
                    parts.extend(reply)
                else:
                    parts.append(reply)
            parts.append(b"\n")
            return parts

    def _execute(self, unit: str, path: list[str]) -> tuple[str | bytes | None, list[str]]:
        unit = unit.strip()
        if not unit:
            return None, path
        header, _, rest = unit.partition(" ")
        if "\t" in header:
            header, _, more = header.partition("\t")
            rest = more + " " + rest
        is_query = header.endswith("?")
        header = header.rstrip("?")
        if not header or "?" in header:
            raise ScpiCommandError(-102, f"bad header {unit[:40]!r}")
        if header.startswith("*"):
            mnemonics, new_path = [header.upper()], path
        else:
            absolute = header.startswith(":")
            parts = (header[1:] if absolute else header).split(":")
            if any(not p or not _valid_mnemonic(p) for p in parts):
                raise ScpiCommandError(-102 if any(not p for p in parts) else -113, f"header {header[:40]!r}")
            mnemonics = parts if absolute else path + parts
            new_path = mnemonics[:-1]
        found = self.find(mnemonics)
        if found is None and not header.startswith((":", "*")) and path:
            mnemonics = header.split(":")
            found = self.find(mnemonics)
            new_path = mnemonics[:-1]
        if found is None:
            raise ScpiCommandError(-113, f"{header[:60]}")
        cmd, suffixes = found
        params = split_params(rest)
        if is_query:
            if not cmd.can_query:
                raise ScpiCommandError(-113, f"{header} has no query form")
            return cmd.on_query(self, suffixes, params), new_path
        if not cmd.can_set:
            raise ScpiCommandError(-113, f"{header} is query only")
        cmd.on_set(self, suffixes, params)
        return None, new_path


def _is_query(unit: str) -> bool:
    return unit.strip().partition(" ")[0].endswith("?")


def _valid_mnemonic(text: str) -> bool:
    return text[0].isalpha() and all(c.isalnum() or c == "_" for c in text)


def _split_units(line: str) -> list[str]:
    """Split a program message on ';' outside quotes (an unterminated quote ends the message)."""
    try:
        return split_outside_quotes(line, ";")
    except ScpiCommandError:
        return [line]