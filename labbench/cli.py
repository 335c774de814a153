"""The `labbench` command. Exit codes: 0 PASS, 1 FAIL, 2 ERROR, 64 usage error."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from labbench.errors import ConfigError, LabbenchError, UsageError

EXIT_USAGE = 64


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        self.print_usage(sys.stderr)
        print(f"labbench: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _parse_sets(items: list[str]) -> dict[str, str]:
    sets = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--set {item!r}: expected NAME=VALUE")
        sets[name.strip()] = value.strip()
    return sets


def cmd_run(args) -> int:
    from labbench.runner import format_table, run

    result = run(args.target, station=args.station, limits=args.limits, dut_profile=args.dut_profile,
                 sets=_parse_sets(args.set), replay=args.replay, out=args.out, json_path=args.json,
                 junit_path=args.junit, progress=None if args.quiet else (lambda t: print(t, flush=True)))
    print(format_table(result))
    return result.exit_code


def cmd_sim(args) -> int:
    from labbench.instruments.sim.bench import start_sim_bench
    from labbench.instruments.sim.dut import load_profile

    from labbench.scpi.faults import with_faults

    from labbench.instruments.sim.bench import SIMULATORS

    last_port = args.port + max(spec.port_offset for spec in SIMULATORS.values())
    if args.port != 0 and not (1 <= args.port and last_port <= 65535):   # 0: free ports
        raise UsageError(f"--port {args.port}: the bench needs ports {args.port} to {last_port}, "
                         "all within 1-65535")
    profile = with_faults(load_profile(args.dut_profile), args.fault or [])
    try:
        servers = start_sim_bench(profile, host=args.host, base_port=args.port,
                                  replay=args.replay, real_time=args.real_time)
    except OSError as exc:
        raise UsageError(f"cannot serve on {args.host} ports {args.port}-{last_port}: {exc.strerror or exc} "
                         "(another labbench sim running? try --port)") from None
    for role, server in servers.items():
        print(f"{role:9s} {server.instrument.idn[1]:10s} {server.resource}", flush=True)
        for spec in (server.faults.specs if server.faults else []):
            print(f"{'':9s} fault: {spec.describe()}", flush=True)
    print("serving the simulated bench; Ctrl-C stops", flush=True)
    try:
        import time
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        for server in servers.values():
            server.stop()
    return 0


def cmd_show(args) -> int:
    from labbench.inspect_run import describe_run

    print(describe_run(args.run_file))
    return 0


def cmd_reanalyze(args) -> int:
    from labbench.reanalyze import reanalyze
    from labbench.runner import format_table

    result = reanalyze(args.run_file, limits=args.limits, sets=_parse_sets(args.set), json_path=args.json)
    print(format_table(result))
    return result.exit_code


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="labbench", description="Automated test bench for IoT hardware.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="-v INFO, -vv DEBUG (SCPI traffic)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    # -v works before or after the subcommand (`labbench -vv run ...` and `labbench run ... -vv`)
    verbosity = argparse.ArgumentParser(add_help=False)
    verbosity.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                           help="-v INFO, -vv DEBUG (SCPI traffic)")
    add_parser = sub.add_parser

    def add_parser_with_verbosity(name, **kwargs):
        kwargs["parents"] = [*kwargs.get("parents", []), verbosity]
        return add_parser(name, **kwargs)

    sub.add_parser = add_parser_with_verbosity

    p = sub.add_parser("run", help="run a procedure or a plan")
    p.add_argument("target", help="a procedure (eye-jitter, rf-reach, interference, dfs, ccdf, current-profile, "
                                  "current-ccdf, rail-noise) or a plan (nightly, or a plan file's path)")
    p.add_argument("--station", help="station TOML; default: the simulated bench, in-process")
    p.add_argument("--limits", help="limits TOML (default: procedures/limits/default.toml)")
    p.add_argument("--dut-profile", help="simulated DUT profile TOML")
    p.add_argument("--set", action="append", metavar="NAME=VALUE", help="procedure parameter (repeatable)")
    p.add_argument("--replay", help="play a stored capture (Keysight .bin) through the simulated scope")
    p.add_argument("--out", help="folder for the run file (default: ./data/runs)")
    p.add_argument("--json", help="write the run summary as JSON")
    p.add_argument("--junit", help="write JUnit XML")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("sim", help="serve the simulated bench on TCP")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5025, help="scope port; the others follow (5026, ...)")
    p.add_argument("--dut-profile")
    p.add_argument("--replay", help="the scope replays this capture instead of the DUT's signal")
    p.add_argument("--real-time", action="store_true", help="acquisitions take their real duration")
    p.add_argument("--fault", action="append", metavar="KIND[:KEY=VALUE,...]",
                   help="inject a fault (repeatable): drop, stall, truncate, corrupt, garbage, errors, refuse; "
                        "e.g. drop:match=:WAVeform:DATA?,after=1 (keys: see labbench.scpi.faults)")
    p.set_defaults(func=cmd_sim)

    p = sub.add_parser("show", help="what a run file holds", description="Steps, captures, metrics and verdicts "
                       "of a run file.")
    p.add_argument("run_file")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("reanalyze", help="recompute metrics from a run file's captures",
                       description="Recompute every step's metrics from the stored captures with the current code, "
                       "other limits or other parameters; no instrument is touched and the run file is not changed.")
    p.add_argument("run_file")
    p.add_argument("--limits", help="limits TOML (default: procedures/limits/default.toml)")
    p.add_argument("--set", action="append", metavar="NAME=VALUE", help="override a stored parameter (repeatable)")
    p.add_argument("--json", help="write the summary as JSON")
    p.set_defaults(func=cmd_reanalyze)

    for register in EXTRA_COMMANDS:
        register(sub)
    return parser


def _extra_commands():
    """Subcommands that live in their own modules (report, import, trend)."""
    import importlib
    import importlib.util

    found = []
    for module_name in ("labbench.report", "labbench.importer", "labbench.trend"):
        if importlib.util.find_spec(module_name) is None:
            continue
        module = importlib.import_module(module_name)
        if hasattr(module, "register_cli"):
            found.append(module.register_cli)
    return found


EXTRA_COMMANDS: list = []


def main(argv: list[str] | None = None) -> int:
    EXTRA_COMMANDS[:] = _extra_commands()
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING if args.verbose == 0 else logging.INFO if args.verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(message)s")
    try:
        return args.func(args)
    except BrokenPipeError:          # `labbench show RUN.h5 | head`: the reader has what it wanted
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0
    except (UsageError, ConfigError) as exc:
        print(f"labbench: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except LabbenchError as exc:
        print(f"labbench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("labbench: interrupted", file=sys.stderr)
        return 2
    except OSError as exc:           # a file named on the command line cannot be read or written
        where = f" {exc.filename}" if exc.filename else ""
        print(f"labbench: error:{where}: {exc.strerror or exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
