"""The SCPI session under faults: what it repeats, what it never repeats, and how it stays in step."""
from __future__ import annotations

import os
import signal
import time

import pytest

import reliability_support as rs
from labbench.errors import ConnectionLost, IdentityError, InstrumentTimeout, ScpiError, TransferError
from labbench.interrupts import held
from labbench.scpi import client
from labbench.scpi.client import Session


@pytest.fixture
def received(monkeypatch):
    """Start a scope with the given faults; record every program message it receives."""
    servers, lines = [], []

    def start(faults=None):
        server = rs.serve_scope(faults)
        original = server.instrument.handle_message

        def recording(line):
            lines.append(line)
            return original(line)

        monkeypatch.setattr(server.instrument, "handle_message", recording)
        servers.append(server)
        return server, lines

    yield start
    for server in servers:
        server.stop()


def _session(server, timeout_s=1.0) -> Session:
    session = Session(server.resource, timeout_s=timeout_s, name="scope DSAZ334A",
                      error_query=":SYSTem:ERRor? STRing")
    session.reconnect_delays_s = (0.0, 0.05, 0.1)
    assert session.query("*IDN?").startswith("KEYSIGHT")
    return session


def test_a_dropped_query_is_repeated_once_on_a_fresh_connection(received):
    server, _ = received([{"kind": "drop", "match": ":TIMebase:SCALe?", "keep": 0.5}])
    session = _session(server)
    assert session.query_float(":TIMebase:SCALe?") == pytest.approx(1e-9)
    assert len(server.faults.events) == 1
    assert any("reconnecting to repeat ':TIMebase:SCALe?'" in e.text for e in session.traffic)
    assert any(e.text == "reconnected" for e in session.traffic)


def test_a_fault_that_persists_is_reported_with_both_attempts(received):
    server, _ = received([{"kind": "drop", "match": ":TIMebase:SCALe?", "count": 2}])
    session = _session(server)
    with pytest.raises(ConnectionLost, match=r"closed by the instrument while reading the reply to "
                                             r"':TIMebase:SCALe\?' \(repeated 1 time\(s\) after reconnecting"):
        session.query(":TIMebase:SCALe?")
    assert session.query("*IDN?").startswith("KEYSIGHT")          # the next command reconnects and works


def test_a_setting_is_never_sent_twice_and_goes_out_on_a_fresh_connection(received):
    server, lines = received([{"kind": "drop", "match": ":TIMebase:SCALe?", "count": 2}])
    session = _session(server)
    with pytest.raises(ConnectionLost):
        session.query(":TIMebase:SCALe?")
    session.write(":TIMebase:SCALe 2E-9", check=True)
    assert lines.count(":TIMebase:SCALe 2E-9") == 1
    assert server.instrument.get("tb_scale") == pytest.approx(2e-9)


def test_a_late_reply_after_a_timeout_never_answers_the_next_query(received):
    # the scope answers :TIMebase:SCALe? 0.6 s late, after the 0.2 s timeout; the repeat (on a new
    # connection) gets the answer in time, and the late one, sent on the old connection, is never read
    server, _ = received([{"kind": "stall", "match": ":TIMebase:SCALe?", "stall_s": 0.6}])
    session = _session(server, timeout_s=0.2)
    assert session.query(":TIMebase:SCALe?") == "1.000000E-09"
    time.sleep(0.7)                                              # the late reply has gone out by now
    assert session.query(":TIMebase:POSition?") == "0.000000E+00"
    assert session.query("*IDN?").startswith("KEYSIGHT")


def test_a_stall_past_every_try_is_a_timeout_naming_the_command(received):
    server, _ = received([{"kind": "stall", "match": ":ACQuire:POINts?", "count": 0}])
    session = _session(server, timeout_s=0.2)
    with pytest.raises(InstrumentTimeout, match=r"did not answer ':ACQuire:POINts\?' within 0.2 s"):
        session.query_int(":ACQuire:POINts?")


def test_refused_connections_for_a_while_are_waited_out(received):
    server, _ = received([{"kind": "refuse", "match": ":TIMebase:SCALe?", "duration_s": 0.1}])
    session = _session(server)
    session.reconnect_delays_s = (0.0, 0.05, 0.1, 0.2)
    assert session.query_float(":TIMebase:SCALe?") == pytest.approx(1e-9)
    assert any("refused" in e for e in server.faults.events)


def test_after_reconnecting_a_different_instrument_is_refused(received):
    server, _ = received([{"kind": "drop", "match": ":TIMebase:SCALe?"}])
    session = _session(server)
    session.retries = 0
    with pytest.raises(ConnectionLost):
        session.query(":TIMebase:SCALe?")
    server.instrument.idn = ("KEYSIGHT TECHNOLOGIES", "N9030B", "MY00SIM", "1.0")   # another box on that address
    with pytest.raises(IdentityError, match="N9030B.*after reconnecting"):
        session.query(":TIMebase:SCALe?")


def test_garbage_for_a_setting_names_the_setting_and_the_reply(received):
    from labbench.instruments.keysight.dsaz334a import DSAZ334A

    server, _ = received([{"kind": "garbage", "match": ":TIMebase:SCALe?", "count": 2}])
    scope = DSAZ334A(server.resource, timeout_s=1.0, role="scope")
    with pytest.raises(TransferError, match=r"answered '.*garbage\?' to ':TIMebase:SCALe\?', not a float "
                                            r"for setting timebase_scale_s \(repeated 1 time\(s\): the same\)"):
        scope.timebase_scale_s
    assert scope.timebase_scale_s == pytest.approx(1e-9)           # count = 2: it has passed
    scope.close()


def test_a_full_error_queue_is_reported_in_short_with_its_count(received):
    server, _ = received([{"kind": "errors", "match": ":TIMebase:SCALe", "code": -222}])
    session = _session(server)
    with pytest.raises(ScpiError) as info:
        session.write(":TIMebase:SCALe 2E-9", check=True)
    text = str(info.value)
    assert "after ':TIMebase:SCALe 2E-9'" in text and text.count("-222,") == client.ERRORS_SHOWN - 2
    assert '-350,"Queue overflow"' in text and "(30 errors in the queue)" in text
    session.check_errors()                                          # drained: nothing left


def test_ctrl_c_while_a_setting_is_sent_waits_for_the_whole_message(received):
    # without the deferral the second half would never be sent and the next command would be glued to
    # the first half (-113); with it, the setting arrives whole and the stop comes right after it
    server, lines = received()
    session = _session(server)
    sock = session._socket_session.interface

    def write_in_two_halves(command):
        data = (command + "\n").encode()
        sock.sendall(data[:6])
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        sock.sendall(data[6:])

    session._res.write = write_in_two_halves
    with pytest.raises(KeyboardInterrupt):
        session.write(":TIMebase:SCALe 2E-9")
    del session._res.write
    assert session.query("*IDN?").startswith("KEYSIGHT")
    assert ":TIMebase:SCALe 2E-9" in lines and server.instrument.get("tb_scale") == pytest.approx(2e-9)
    assert session.query(":SYSTem:ERRor? STRing").startswith("+0,")


def test_held_defers_a_stop_until_the_block_ends_or_only_records_it():
    done = []
    with pytest.raises(KeyboardInterrupt):
        with held():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)
            done.append("finished")
    assert done == ["finished"]
    with held(redeliver=False) as received_signals:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.01)
    assert received_signals == [signal.SIGINT]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler      # handlers put back


def test_leave_idle_stops_and_restores_what_was_registered_newest_first(received):
    from labbench.instruments.keysight.dsaz334a import DSAZ334A

    server, lines = received()
    scope = DSAZ334A(server.resource, timeout_s=1.0, role="scope")
    scope.remember("color_grade", "timebase_scale_s")
    scope.color_grade = True
    scope.timebase_scale_s = 5e-9
    scope.restore_on_idle(":TRIGger:SWEep TRIGgered")
    scope.session.write(":TRIGger:SWEep AUTO;:RUN")
    assert scope.leave_idle() == []
    sim = server.instrument
    assert sim.get("run_state") == "STOP" and sim.get("cgrade") is False
    assert sim.get("tb_scale") == pytest.approx(1e-9) and sim.get("trig_sweep") == "TRIG"
    # newest first, then *OPC? so the instrument has taken them all before the session closes
    assert lines[-4:] == [":TRIGger:SWEep TRIGgered", ":TIMebase:SCALe 1e-09", ":DISPlay:CGRade 0", "*OPC?"]
    assert scope.leave_idle() == [] and lines[-2:] == [":STOP", "*OPC?"]   # restores are sent once
    scope.close()
