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
