"""The `ecgmon keys|log|export` commands, run through the real CLI entry point."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.store import Event, Identity, LogWriter, Recipient, load_recipients, paths
from tests.store.conftest import T0, beat_batch, ecg_block


@pytest.fixture
def pw(tmp_path: Path) -> Path:
    path = tmp_path / "pw.txt"
    path.write_text("s3cret passphrase\n")
    return path


def _init(pw: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["keys", "init", "--passphrase-file", str(pw)]) == 0
    out = capsys.readouterr().out
    return out.split("public key: ")[1].split()[0]


def _write_day_part(log: Path, n: int = 12) -> None:
    recipients = load_recipients(paths.recipients_path())
    with LogWriter(log, recipients) as writer:
        for i in range(n):
            writer.append(ecg_block(i))
            writer.append(beat_batch(i))
        writer.append(Event("episode", "afib", T0 + 20 * 10**9, T0 + 50 * 10**9, {"hr": 140}))


def test_keys_init_add_remove_list(pw: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pub = _init(pw, capsys)
    identity_file = paths.default_identity_path()
    assert (identity_file.stat().st_mode & 0o777) == 0o600
    assert [r.text for r in load_recipients(paths.recipients_path())] == [pub]
    assert main(["keys", "init", "--passphrase-file", str(pw)]) == 2  # never overwrites
    assert "already exists" in capsys.readouterr().err
    doc = Identity.generate("clinician")
    assert main(["keys", "add-recipient", doc.recipient.text, "--label", "Dr X"]) == 0
    assert main(["keys", "list"]) == 0
    assert "Dr X" in capsys.readouterr().out
    typo = (
        doc.recipient.text[:-3]
        + ("q" if doc.recipient.text[-3] != "q" else "p")
        + doc.recipient.text[-2:]
    )
    assert main(["keys", "add-recipient", typo, "--label", "typo"]) == 2
    assert "checksum does not match" in capsys.readouterr().err
    assert main(["keys", "remove-recipient", "Dr X"]) == 0
    assert main(["keys", "remove-recipient", "patient"]) == 2
    assert "last recipient" in capsys.readouterr().err
    text = paths.recipients_path().read_text()
    assert "ciphertext" not in text and "private" not in text


def test_clinician_share_verify_export_purge(
    tmp_path: Path, pw: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _init(pw, capsys)
    log = paths.default_log_path()
    _write_day_part(log)
    clin = tmp_path / "clinic" / "dr.key"
    assert (
        main(
            [
                "keys",
                "clinician-new",
                "--out",
                str(clin),
                "--label",
                "Dr X",
                "--passphrase-file",
                str(pw),
            ]
        )
        == 0
    )
    clin_pub = capsys.readouterr().out.split("patient): ")[1].split()[0]
    Recipient.parse(clin_pub)

    assert (
        main(["log", "verify", str(log), "--identity", str(clin), "--passphrase-file", str(pw)])
        == 2
    )
    assert "not a recipient" in capsys.readouterr().err
    assert main(["keys", "share", "--to", clin_pub, "--passphrase-file", str(pw)]) == 0
    assert "shared 1 segment" in capsys.readouterr().out

    assert main(["log", "verify", str(log)]) == 0
    out = capsys.readouterr().out
    assert "OK (structure only" in out and "records:  26" in out
    assert (
        main(["log", "verify", str(log), "--identity", str(clin), "--passphrase-file", str(pw)])
        == 0
    )
    out = capsys.readouterr().out
    assert "OK (full check" in out and "time span: " in out

    out_dir = tmp_path / "export"
    assert (
        main(
            [
                "export",
                str(log),
                "--identity",
                str(clin),
                "--passphrase-file",
                str(pw),
                "--format",
                "csv",
                "--from",
                "2025-11-25T08:00:20Z",
                "--to",
                "2025-11-25T08:01:00Z",
                "--out",
                str(out_dir),
            ]
        )
        == 0
    )
    with (out_dir / "ecg.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 40 * 130
    assert int(rows[0]["time_ns"]) == T0 + 20 * 10**9
    assert int(rows[0]["uV"]) == int(ecg_block(2).samples_uv[0])
    with (out_dir / "beats.csv").open() as handle:
        beats = list(csv.DictReader(handle))
    assert len(beats) == 4 * 12 and beats[0]["label"] == "N"
    assert "afib" in (out_dir / "events.csv").read_text()
    assert "not a certified medical device" in (out_dir / "NOTICE.txt").read_text()

    assert (
        main(["log", "purge", "--before", "2030-01-01", "--yes", "--passphrase-file", str(pw)]) == 0
    )
    assert "nothing purged" in capsys.readouterr().out  # the newest segment is kept


def test_export_wfdb_and_edf(tmp_path: Path, patient: Identity, log_path: Path) -> None:
    wfdb = pytest.importorskip("wfdb")
    pyedflib = pytest.importorskip("pyedflib")
    from monitor.store import export

    with LogWriter(log_path, [patient.recipient]) as writer:
        for i in (0, 1, 2, 5):  # a 20 s gap after block 2
            writer.append(ecg_block(i))
            writer.append(beat_batch(i))
        writer.append(Event("alert", "pause", T0 + 3 * 10**9, None, {}))
    result = export(log_path, patient, "wfdb", tmp_path / "w")
    record = wfdb.rdrecord(str(tmp_path / "w" / "ecg"))
    assert record.fs == 130 and record.sig_len == 6 * 1300
    sig = record.p_signal[:, 0]
    assert list(sig[:1300].round()) == list(ecg_block(0).samples_uv)
    assert all(v != v for v in sig[3 * 1300 : 5 * 1300])  # NaN in the gap
    ann = wfdb.rdann(str(tmp_path / "w" / "ecg"), "atr")
    assert ann.symbol.count("V") == 4 * 4 and '"' in ann.symbol
    assert "alert:pause" in ann.aux_note
    assert result.beats == 48

    export(log_path, patient, "edf", tmp_path / "e")
    with pyedflib.EdfReader(str(tmp_path / "e" / "ecg.edf")) as edf:
        assert edf.getSampleFrequency(0) == 130
        data = edf.readSignal(0)
        assert abs(data[:1300] - ecg_block(0).samples_uv).max() < 1.0
        _onsets, _, texts = edf.readAnnotations()
        assert sum(t == "beat V" for t in texts) == 16
        assert "signal gap (no ECG recorded)" in list(texts)


def test_export_missing_extra_is_one_clear_line(
    tmp_path: Path,
    patient: Identity,
    log_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    pw: Path,
) -> None:
    import builtins

    real_import = builtins.__import__

    def no_pyedflib(name: str, *args: object, **kwargs: object) -> object:
        if name == "pyedflib":
            raise ImportError("no pyedflib")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    ident = tmp_path / "p.key"
    from monitor.store import write_identity_file

    write_identity_file(ident, patient, pw.read_text().strip())
    with LogWriter(log_path, [patient.recipient]) as writer:
        writer.append(ecg_block(0))
    monkeypatch.setattr(builtins, "__import__", no_pyedflib)
    assert (
        main(
            [
                "export",
                str(log_path),
                "--identity",
                str(ident),
                "--passphrase-file",
                str(pw),
                "--format",
                "edf",
                "--out",
                str(tmp_path / "x"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'ecgmon[edf]'" in err


def test_bad_inputs_are_one_line(
    tmp_path: Path, pw: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _init(pw, capsys)
    not_log = tmp_path / "x.txt"
    not_log.write_text("nope")
    assert main(["log", "verify", str(not_log)]) == 2
    assert "not an ecgmon log" in capsys.readouterr().err
    bad = tmp_path / "bad.txt"
    bad.write_text("wrong\n")
    log = paths.default_log_path()
    _write_day_part(log, 2)

    def verify_with(passphrase_file: Path) -> int:
        identity = str(paths.default_identity_path())
        return main(
            [
                "log",
                "verify",
                str(log),
                "--identity",
                identity,
                "--passphrase-file",
                str(passphrase_file),
            ]
        )

    assert verify_with(bad) == 2
    assert "wrong passphrase" in capsys.readouterr().err
    os.chmod(paths.default_identity_path(), 0o640)
    assert verify_with(pw) == 2
    assert "chmod 600" in capsys.readouterr().err
    assert main(["log", "purge", "--before", "yesterday", "--yes"]) == 2
    assert "ISO 8601" in capsys.readouterr().err


def test_passphrase_from_environment(
    pw: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ECGMON_PASSPHRASE", "from env")
    assert main(["keys", "init"]) == 0
    capsys.readouterr()
    log = paths.default_log_path()
    _write_day_part(log, 1)
    assert main(["log", "verify", str(log), "--identity", str(paths.default_identity_path())]) == 0
    assert "from env" not in capsys.readouterr().out


def test_export_reports_progress_to_the_end(
    tmp_path: Path, patient: Identity, log_path: Path
) -> None:
    from monitor.store import export

    with LogWriter(log_path, [patient.recipient]) as writer:
        for i in range(600):
            writer.append(ecg_block(i, n=130))
    seen: list[float] = []
    export(log_path, patient, "csv", tmp_path / "c", progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) > 3


def test_log_copy_while_the_writer_runs(
    tmp_path: Path, patient: Identity, log_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from monitor.store import LogReader

    with LogWriter(log_path, [patient.recipient]) as writer:
        for i in range(5):
            writer.append(ecg_block(i))
        assert (log_path.parent / (log_path.name + "-wal")).exists()
        copy = tmp_path / "handover" / "log.sqlite"
        assert main(["log", "copy", str(log_path), "--out", str(copy)]) == 0
        assert "copied 5 records" in capsys.readouterr().out
        assert main(["log", "copy", str(log_path), "--out", str(copy)]) == 2
        assert "already exists" in capsys.readouterr().err
    assert not (copy.parent / "log.sqlite-wal").exists()
    with LogReader(copy) as reader:
        assert [r.payload for r in reader.records(patient)] == [ecg_block(i) for i in range(5)]
