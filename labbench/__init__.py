"""labbench: an automated test-and-measurement bench for IoT hardware."""
__version__ = "0.1.0"


def open_bench(*args, **kwargs):
    """The bench with its drivers by role; simulated when no station is named (see labbench.bench)."""
    from labbench.bench import open_bench as _open_bench
    return _open_bench(*args, **kwargs)


def run(target, **kwargs):
    """Run a procedure or a plan from Python, as `labbench run` does (see labbench.runner.run)."""
    from labbench.runner import run as _run
    return _run(target, **kwargs)


def open_run(path):
    """A run file opened for reading in a notebook: steps, captures, metrics (see labbench.runview)."""
    from labbench.runview import open_run as _open_run
    return _open_run(path)


def import_file(path, **kwargs):
    """A vendor capture file (.bin, .h5, Touchstone) as a run file, opened (see labbench.importer)."""
    from labbench.importer import import_file as _import_file
    return _import_file(path, **kwargs)
