"""One exception hierarchy for labbench: every message names what was wrong and where."""


class LabbenchError(Exception):
    """Base of every error labbench raises on purpose."""


class ConfigError(LabbenchError):
    """A file or option labbench reads is malformed: names the file, line and key where known."""


class UsageError(ConfigError):
    """The command line or a parameter is wrong: lists what is valid."""


class InstrumentError(LabbenchError):
    """An instrument refused, reported an error, or answered something unusable."""


class IdentityError(InstrumentError):
    """`*IDN?` named a different model than the driver speaks to."""


class ScpiError(InstrumentError):
    """The instrument's error queue reported an error after a command."""


class TransferError(InstrumentError):
    """A binary block or reply was short, malformed or inconsistent with its preamble."""


class InstrumentTimeout(InstrumentError):
    """The instrument did not answer within the timeout."""


class ConnectionLost(InstrumentError):
    """The connection to the instrument dropped."""


class AnalysisError(LabbenchError):
    """The data cannot be analysed as asked (too few edges, no signal, clipped, ...)."""


class StoreError(LabbenchError):
    """A run file cannot be written or read as a labbench run."""


class AbortRequested(LabbenchError):
    """Ctrl-C or SIGTERM asked the run to stop."""


class FileFormatError(ConfigError):
    """A vendor data file (.bin, .h5, Touchstone) is not what it claims to be: names the file and the fault."""
