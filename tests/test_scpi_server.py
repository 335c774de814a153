"""The simulator toolkit: SCPI header forms, errors, and a server that keeps serving."""
from __future__ import annotations

import socket

import pytest

from labbench.instruments.sim.dsaz334a import SimDSAZ334A
from labbench.scpi.commands import compile_pattern, match_header, parse_number, ScpiCommandError


def ask(sim, line: str) -> str | None:
    parts = sim.handle_message(line)
    return None if parts is None else b"".join(parts).decode("latin-1").rstrip("\n")


def errors(sim) -> list[int]:
    out = []
    while sim.errors:
        out.append(sim.pop_error()[0])
    return out


@pytest.fixture
def sim():
    return SimDSAZ334A()


def test_long_and_short_forms_in_any_case_are_the_same_header(sim):
    ask(sim, ":TIMebase:SCALe 2e-9")
    assert ask(sim, ":tim:scal?") == ask(sim, ":TIMEBASE:SCALE?") == "2.000000E-09"
    assert errors(sim) == []


def test_optional_nodes_and_numeric_suffixes(sim):
    ask(sim, ":ACQuire:SRATe:ANALog 40e9")
    assert ask(sim, ":ACQ:SRAT?") == "4.000000E+10"
    ask(sim, ":CHAN3:SCAL 0.2")
    assert ask(sim, ":CHANnel3:SCALe?") == "2.000000E-01"
    assert ask(sim, ":CHANnel1:SCALe?") != "2.000000E-01"


def test_semicolon_chains_and_relative_paths(sim):
    reply = ask(sim, ":CHANnel2:SCALe 0.1;OFFSet 0.05;:CHANnel2:OFFSet?;SCALe?")
    assert reply == "5.000000E-02;1.000000E-01"


def test_engineering_suffixes_in_parameters():
    assert parse_number("10 MHZ") == pytest.approx(10e6)
    assert parse_number("5ns") == pytest.approx(5e-9)
    assert parse_number("-3.5E2") == -350.0
    with pytest.raises(ScpiCommandError):
        parse_number("ten")


def test_pattern_matcher_rejects_partial_mnemonics():
    nodes = compile_pattern(":TIMebase:SCALe")
    assert match_header(nodes, ["TIM", "SCAL"]) == []
    assert match_header(nodes, ["TIMEB", "SCAL"]) is None     # neither long nor short form


@pytest.mark.parametrize("line, code", [
    (":NO:SUCH:HEADer", -113),
    (":TIMebase:SCALe 100", -222),
    (":TIMebase:SCALe", -109),
    (":TIMebase:SCALe fast", -104),
    (":ACQuire:MODE WRONG", -224),
    (":CHANnel9:SCALe 0.1", -114),
    ("::TIM:SCAL 1e-9", -102),
    (":WAVeform:DATA?", -230),           # nothing acquired yet
])
def test_malformed_commands_queue_the_standard_error(sim, line, code):
    ask(sim, line)
    assert errors(sim)[0] == code


def test_error_queue_overflow_ends_with_350(sim):
    for _ in range(40):
        ask(sim, ":BOGUS")
    queue = errors(sim)
    assert len(queue) == 30 and queue[-1] == -350 and queue[0] == -113


def test_common_commands(sim):
    assert ask(sim, "*IDN?").startswith("KEYSIGHT TECHNOLOGIES,DSAZ334A,")
    ask(sim, ":BOGUS")
    assert int(ask(sim, "*ESR?")) & 32        # command error bit
    assert ask(sim, "*ESR?") == "0"           # reading cleared it
    ask(sim, "*CLS")
    assert ask(sim, ":SYSTem:ERRor?") == "+0"
    ask(sim, ":TIM:SCAL 5e-9;*RST")
    assert ask(sim, ":TIM:SCAL?") == "1.000000E-09"
    assert ask(sim, "*OPC?") == "1"


def test_server_survives_binary_junk_and_keeps_answering(scope_sim):
    with socket.create_connection((scope_sim.host, scope_sim.port), timeout=5) as s:
        s.sendall(bytes(range(256)) + b"\n" + b"\xff" * 5000 + b"\r\n" + b"*IDN?\n")
        reply = b""
        while not reply.endswith(b"\n"):
            reply += s.recv(4096)
    assert b"DSAZ334A" in reply
    assert scope_sim.instrument.errors     # the junk was reported, not ignored


def test_a_dropped_client_is_forgotten(scope_sim):
    s = socket.create_connection((scope_sim.host, scope_sim.port))
    s.sendall(b":DIGitize CHANnel1;:WAVeform:FORMat WORD;:WAVeform:DATA?\n")
    s.close()
    with socket.create_connection((scope_sim.host, scope_sim.port), timeout=5) as s2:
        s2.sendall(b"*IDN?\n")
        assert b"DSAZ334A" in s2.recv(4096)


@pytest.mark.parametrize("line, code", [
    (":TIMebase:SCALe 1e400", -222),                          # infinity is not a setting
    (":ACQuire:SRATe 10;:DIGitize CHANnel1", -221),           # 1 Mpts at 10 Sa/s spans 1e15 bits
    (":ACQuire:POINts 2e9;:DIGitize CHANnel1", -221),         # more than the simulator renders
    (":MEASure:RJDJ:BER E99", -222),
])
def test_legal_but_unsimulatable_requests_are_refused_not_attempted(sim, line, code):
    ask(sim, line)
    assert errors(sim)[0] == code
    assert ask(sim, "*IDN?").startswith("KEYSIGHT")


def test_driver_reports_a_refused_acquisition_with_the_instruments_reason(scope):
    scope.sample_rate_sa_s = 10.0
    with pytest.raises(Exception, match=r":DIGitize CHANnel1.*-221.*bits of the serial link"):
        scope.acquire(1)
