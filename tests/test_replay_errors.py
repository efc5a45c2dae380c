"""`mtasim replay` refuses bad input in one line on stderr naming the file or flag and what was expected,
exit status 2, and writes nothing."""

from __future__ import annotations

import gzip

import pytest

from mtasim.cli import main

POSTFIX_LINE = ("Nov 27 22:00:01 mail postfix/smtp[2003]: BBBB22222: to=<bob@partner.example>, relay=none, delay=1, "
                "delays=0.5/0/0.5/0, dsn=4.4.1, status=deferred (connect to mx.partner.example[192.0.2.10]:25: "
                "Connection refused)\n")
EXIM_LINE = ("2026-11-27 22:00:01 1vAbCe-000124-Ab == bob@partner.example R=dnslookup T=remote_smtp defer (111): "
             "Connection refused\n")


def _refused(tmp_path, capsys, argv: list[str]) -> str:
    out = tmp_path / "out"
    assert main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert not out.exists(), "nothing may be written"
    return err


def _file(tmp_path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_log_of_another_program(tmp_path, capsys):
    """An Exim main log given as Postfix: the Postfix lines that were expected are named."""
    log = _file(tmp_path, "mainlog", EXIM_LINE.encode() * 3)
    err = _refused(tmp_path, capsys, ["replay", "postfix", log, "--year", "2026"])
    assert log in err and "expected Postfix syslog lines such as" in err and "found none" in err


def test_postfix_log_given_as_exim_and_as_exchange(tmp_path, capsys):
    log = _file(tmp_path, "maillog", POSTFIX_LINE.encode())
    assert "expected Exim main log lines" in _refused(tmp_path, capsys, ["replay", "exim", log])
    err = _refused(tmp_path, capsys, ["replay", "exchange", log])
    assert "line 1: expected an Exchange message tracking log" in err


def test_binary_file(tmp_path, capsys):
    log = _file(tmp_path, "core", b"\x7fELF\x02\x01\x01\x00\x00\x00" + bytes(range(256)))
    assert "expected a text log, got binary data" in _refused(tmp_path, capsys, ["replay", "postfix", log])


def test_empty_file(tmp_path, capsys):
    log = _file(tmp_path, "maillog", b"")
    assert "maillog: the file is empty" in _refused(tmp_path, capsys, ["replay", "postfix", log])


def test_unreadable_gzip(tmp_path, capsys):
    """A gzip'd rotation cut short (the copy was interrupted): the gzip data cannot be read."""
    whole = gzip.compress(POSTFIX_LINE.encode() * 200)
    log = _file(tmp_path, "maillog.2.gz", whole[: len(whole) // 2])
    err = _refused(tmp_path, capsys, ["replay", "postfix", log, "--year", "2026"])
    assert "maillog.2.gz" in err and "cannot read the gzip data" in err


def test_missing_file(tmp_path, capsys):
    err = _refused(tmp_path, capsys, ["replay", "exim", str(tmp_path / "nope.log")])
    assert "nope.log: cannot read it: No such file or directory" in err


def test_no_remote_deliveries(tmp_path, capsys):
    """Only local deliveries (local(8), relay=local): nothing to replay."""
    log = _file(tmp_path, "maillog", (
        "Nov 27 21:10:02 mail postfix/cleanup[901]: FFFF66666: message-id=<m6@example.org>\n"
        "Nov 27 21:10:02 mail postfix/local[2100]: FFFF66666: to=<carol@example.org>, relay=local, delay=0.3, "
        "delays=0.1/0/0/0.2, dsn=2.0.0, status=sent (delivered to mailbox)\n").encode())
    err = _refused(tmp_path, capsys, ["replay", "postfix", log, "--year", "2026"])
    assert "expected delivery attempts to a remote destination" in err


def test_export_csv_with_unjoined_recipients(tmp_path, capsys):
    log = _file(tmp_path, "t.csv", b'"Timestamp","EventId","Source","MessageId","Recipients","RecipientStatus"\n'
                b'"2026-11-27T22:00:01","DEFER","SMTP","<m@x>","System.String[]","[{LED=451 4.3.0 x}]"\n')
    err = _refused(tmp_path, capsys, ["replay", "exchange", log])
    assert "t.csv: line 2: expected recipient addresses, got System.String[]" in err


@pytest.mark.parametrize("flag, expected", [
    (["--what-if", "preset"], "--what-if: expected KEY=VALUE[,VALUE...]"),
    (["--what-if", "sender.maximal_queue_lifetim=2d"], "maximal_queue_lifetim"),
    (["--what-if", "preset=no-such-mta"], "no-such-mta"),
    (["--tz", "Mars/Olympus"], "--tz: expected a time zone"),
    (["--year", "20"], "--year: expected a year from 1970 to 9999"),
    (["--preset", "no-such-mta"], "no-such-mta"),
])
def test_bad_flags(tmp_path, capsys, flag, expected):
    log = _file(tmp_path, "maillog", POSTFIX_LINE.encode()
                + POSTFIX_LINE.replace("22:00:01", "23:00:01").replace("status=deferred", "status=sent").encode())
    assert expected in _refused(tmp_path, capsys, ["replay", "postfix", log, "--year", "2026", *flag])
