"""FakeScanner and the "none" scanner: the contract the queue service relies on."""

from __future__ import annotations

import logging

import pytest

from devices.scanner import FakeScanner, ScannerError, open_scanner


def test_pushed_scans_are_delivered_in_order(run_scanner):
    scanner = FakeScanner()
    scanner.push("RS1:ABC")
    run = run_scanner(scanner)
    scanner.push("second")

    assert run.wait_for(2) == ["RS1:ABC", "second"]


def test_repeated_scans_are_not_deduplicated(run_scanner):
    scanner = FakeScanner()
    for _ in range(3):
        scanner.push("same")

    assert run_scanner(scanner).wait_for(3) == ["same", "same", "same"]


def test_stop_returns_promptly(run_scanner):
    scanner = FakeScanner()
    run = run_scanner(scanner)
    assert scanner.running.wait(1)

    assert run.stop_and_join() < 0.5
    assert run.error is None and not scanner.running.is_set()


def test_unplugged_raises_until_restored(run_scanner):
    scanner = FakeScanner()
    run = run_scanner(scanner)
    assert scanner.running.wait(1)

    scanner.trigger_fake_unplugged()

    assert run.wait_finished() < 0.5
    assert isinstance(run.error, ScannerError)
    assert str(run.error) == "Pemindai QR terputus"

    scanner.trigger_fake_restore()
    scanner.push("back")
    assert run_scanner(scanner).wait_for(1) == ["back"]


def test_oversized_scan_dropped_with_length_only(run_scanner, caplog):
    caplog.set_level(logging.WARNING)
    scanner = FakeScanner()
    scanner.push("Z" * 2049)
    scanner.push("ok")

    assert run_scanner(scanner).wait_for(1) == ["ok"]
    assert "2049 characters" in caplog.text
    assert "ZZZ" not in caplog.text


def test_none_scanner_waits_for_stop(run_scanner):
    run = run_scanner(open_scanner("none"))

    assert run.wait_finished(0.2) >= 0.2  # still running
    assert run.stop_and_join() < 0.5
    assert run.scans == [] and run.error is None


def test_scanner_error_is_an_exception_with_indonesian_text():
    with pytest.raises(ScannerError, match="Pemindai QR"):
        raise ScannerError("Pemindai QR tidak terhubung")
