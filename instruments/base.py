"""What every driver shares: the identity check, declarative settings, the settings snapshot.

A plain setting is one line, as in the instrument's manual::

    timebase_scale_s = Setting(":TIMebase:SCALe", float, unit="s/div", limits=(2e-12, 20.0))

Reading it queries the instrument; writing it sends the command and drains the error queue, so a
refused value raises at once with the setting's name, the command and the instrument's own text.
"""
from __future__ import annotations

from typing import Any, Callable

from labbench.errors import AbortRequested, IdentityError, ScpiError
from labbench.scpi.client import Session


def _parse_bool(text: str) -> bool:
    return text.strip().upper() in ("1", "ON", "+1")


class Setting:
    """A descriptor for one SCPI setting. `{ch}` in the header is filled from the owner's index."""

    def __init__(self, header: str, kind: type | Callable[[str], Any] = float, unit: str = "",
                 limits: tuple[float, float] | None = None, read_only: bool = False, doc: str = ""):
        self.header, self.kind, self.unit, self.limits, self.read_only = header, kind, unit, limits, read_only
        self.__doc__ = doc or f"{header} ({unit})" if unit else header
        self.name = ""

    def __set_name__(self, owner, name: str) -> None:
        self.name = name

    def _header(self, obj) -> str:
        return self.header.format(ch=getattr(obj, "index", ""))

    def parse(self, text: str) -> Any:
        if self.kind is bool:
            return _parse_bool(text)
        if self.kind is int:
            return int(float(text))
        if self.kind is float:
            value = float(text)
            return float("nan") if abs(value) >= 9.9e37 else value
        if self.kind is str:
            return text.strip().strip('"')
        return self.kind(text)

    def format(self, value: Any) -> str:
        if self.kind is bool:
            return "1" if value else "0"
        if isinstance(value, float):
            return repr(value)
        return str(value)

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        return obj.session.query_as(f"{self._header(obj)}?", self.parse,
                                    f"a {getattr(self.kind, '__name__', 'value')} for setting {self.name}")

    def __set__(self, obj, value) -> None:
        if self.read_only:
            raise AttributeError(f"{self.name} ({self.header}) is read-only")
        command = f"{self._header(obj)} {self.format(value)}"
        try:
            obj.session.write(command, check=True)
        except ScpiError as exc:
            allowed = f" (allowed {self.limits[0]:g} to {self.limits[1]:g} {self.unit})" if self.limits else ""
            raise ScpiError(f"setting {self.name} = {value!r}{allowed}: {exc}") from None


def settings_of(obj) -> dict[str, Any]:
    """Every Setting declared on obj's class, read back from the instrument."""
    out = {}
    for klass in reversed(type(obj).__mro__):
        for name, attr in vars(klass).items():
            if isinstance(attr, Setting):
                try:
                    out[name] = getattr(obj, name)
                except AbortRequested:
                    raise
                except Exception as exc:   # a snapshot must not stop the run
                    out[name] = f"<unreadable: {exc}>"
    return out


class Instrument:
    """A driver: a thin typed mapping of one model's SCPI. Subclasses set `model` and settings."""

    model = ""
    error_query = ":SYSTem:ERRor?"
    default_timeout_s = 10.0

    def __init__(self, resource: str, *, visa_library: str = "@py", timeout_s: float | None = None,
                 role: str = ""):
        self.resource = resource
        self.role = role or self.model
        self.session = Session(resource, visa_library=visa_library,
                               timeout_s=timeout_s or self.default_timeout_s,
                               name=f"{self.role} {self.model}".strip(), error_query=self.error_query)
        try:
            self.idn = self.session.query("*IDN?")
            self.check_identity(self.idn)
        except Exception:
            self.session.close()
            raise
        self.setup()

    def check_identity(self, idn: str) -> None:
        fields = [f.strip() for f in idn.split(",")]
        if len(fields) < 2 or fields[1].upper() != self.model.upper():
            got = fields[1] if len(fields) > 1 else idn[:40]
            raise IdentityError(f"{self.resource} is a {got!r} ({idn.strip()}), not a {self.model}: "
                                f"check the station file's resource for role '{self.role}'")

    def setup(self) -> None:
        """Put the instrument in the state the driver assumes (headers off, formats...)."""

    def settings(self) -> dict[str, Any]:
        return settings_of(self)

    def make_idle(self) -> None:
        """Leave the instrument idle and safe (called on abort and at the end of a run)."""

    def restore_on_idle(self, command: str) -> None:
        """Register a command that undoes a change (e.g. ':INITiate:CONTinuous ON' after single sweeps);
        leave_idle() sends the registered commands once, newest first."""
        self.__dict__.setdefault("_restores", []).append(command)

    def remember(self, *names: str) -> None:
        """Read these Settings now and have leave_idle() put them back: call before changing them."""
        for name in names:
            setting = next((vars(k)[name] for k in type(self).__mro__ if isinstance(vars(k).get(name), Setting)),
                           None)
            if setting is None or setting.read_only:
                raise AttributeError(f"{type(self).__name__} has no writable Setting {name!r}")
            header = setting._header(self)
            if any(c.startswith(header + " ") for c in self.__dict__.get("_restores", [])):
                continue   # already remembered: the first value read is the one to put back
            self.restore_on_idle(f"{header} {setting.format(getattr(self, name))}")

    def leave_idle(self) -> list[str]:
        """make_idle(), then the registered restores; never raises (it runs on abort), returns what failed."""
        problems = []
        delays, self.session.reconnect_delays_s = self.session.reconnect_delays_s, (0.0,)   # on the way out: one try
        try:
            try:
                self.make_idle()
            except Exception as exc:
                problems.append(f"make_idle: {exc}")
            restores, self.__dict__["_restores"] = self.__dict__.get("_restores", []), []
            for command in reversed(restores):
                try:
                    self.session.write(command)
                except Exception as exc:
                    problems.append(f"{command}: {exc}")
            if not problems:
                try:   # the instrument has taken every command before the session is closed
                    self.session.wait_complete(timeout_s=self.session.timeout_s)
                except Exception as exc:
                    problems.append(f"*OPC?: {exc}")
        finally:
            self.session.reconnect_delays_s = delays
        return problems

    def close(self) -> None:
        self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
