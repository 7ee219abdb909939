"""Evidence writer: schema, redaction, append-only, file modes."""

from __future__ import annotations

import json
import os
import stat

import pytest

from ansible_collections.continuity.recovery.plugins.module_utils import evidence


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_redact_masks_secret_keys_at_any_depth():
    data = {"vcenter": {"username": "admin", "password": "s3cret"},
            "pairs": [{"login_password": "p", "api_token": "t", "name": "x"}],
            "empty_password": ""}
    out = evidence.redact(data)
    assert out == {"vcenter": {"username": "admin", "password": "********"},
                   "pairs": [{"login_password": "********", "api_token": "********", "name": "x"}],
                   "empty_password": ""}
    assert data["vcenter"]["password"] == "s3cret"  # input untouched


def test_redact_strips_passwords_from_urls_and_conninfo():
    assert evidence.redact("https://admin:pw@vc:443/sdk") == "https://admin:********@vc:443/sdk"
    assert evidence.redact("host=db user=r password='a b' port=5432") == \
        "host=db user=r password=******** port=5432"
    assert evidence.redact("postgresql://r:pw@db/x") == "postgresql://r:********@db/x"
    assert evidence.redact("env PGPASSWORD=s3cret psql -h db") == "env PGPASSWORD=******** psql -h db"
    assert evidence.redact("PASSWORD = 'a b' host=db") == "PASSWORD = ******** host=db"


@pytest.mark.parametrize("key", ["PGPASSWORD", "pgpassword", "passphrase", "ssh_passphrase", "secret_key",
                                 "aws_secret_access_key", "SECRET_KEY"])
def test_redact_masks_more_secret_names(key):
    assert evidence.redact({key: "x", "name": "n"}) == {key: "********", "name": "n"}
    assert evidence.secret_values({"a": {key: "x"}}) == {"x"}


@pytest.mark.parametrize("key", ["passwords_file", "keyring", "tokens_dir", "password_policy", "pgport"])
def test_redact_leaves_names_that_only_look_like_secrets(key):
    assert evidence.redact({key: "x"}) == {key: "x"}


def test_records_are_appended_with_schema_and_private_modes(tmp_path):
    run = tmp_path / "evidence" / "payments" / "run1"
    first = evidence.make_record("check", "host_connected", "ok", run_id="run1", plan="payments",
                                 role="baseline", subject="h1", data={"password": "x"})
    evidence.append_records(str(run), [first])
    second = evidence.make_record("summary", "baseline", "abnormal", run_id="run1")
    path = evidence.append_records(str(run), [second])
    records = evidence.read_records(str(run))
    assert [r["name"] for r in records] == ["host_connected", "baseline"]
    assert records[0]["schema"] == evidence.SCHEMA
    assert records[0]["data"] == {"password": "********"}
    assert records[0]["ts"].endswith("Z")
    assert _mode(path) == 0o600
    assert _mode(str(run)) == 0o700


@pytest.mark.parametrize("kind,status", [("nonsense", "ok"), ("check", "fine")])
def test_make_record_rejects_unknown_kind_or_status(kind, status):
    with pytest.raises(ValueError):
        evidence.make_record(kind, "x", status)


def test_write_json_is_atomic_redacted_and_private(tmp_path):
    path = evidence.write_json(str(tmp_path), "snap.json", {"a": 1, "password": "pw"})
    assert json.loads(open(path).read()) == {"a": 1, "password": "********"}
    assert _mode(path) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["snap.json"]  # no temp file left


@pytest.mark.parametrize("name", ["../escape.json", "a/b.json", "", ".."])
def test_write_refuses_paths_outside_the_directory(tmp_path, name):
    with pytest.raises(ValueError):
        evidence.write_text(str(tmp_path), name, "x")


def test_secret_values_finds_every_secret_at_any_depth():
    plan = {"sites": {"primary": {"vcenter": {"password": "vc-pw", "username": "admin"}}},
            "replication": [{"primary": {"password": "db-pw"}, "standby": {"password": None}},
                            {"replication_password": "repl-pw", "api_key": "", "token": "tok"}],
            "name": "payments"}
    assert evidence.secret_values(plan) == {"vc-pw", "db-pw", "repl-pw", "tok"}
    assert evidence.secret_values(["password", {"user": "password"}]) == set()


def test_a_torn_last_record_is_skipped_and_the_next_append_stays_whole(tmp_path):
    directory = str(tmp_path)
    evidence.append_records(directory, [evidence.make_record("check", "a", "ok")])
    with open(os.path.join(directory, evidence.RECORDS_FILE), "a", encoding="utf-8") as handle:
        handle.write('{"kind": "ch')  # a crash in the middle of a write
    assert [r["name"] for r in evidence.read_records(directory)] == ["a"]
    evidence.append_records(directory, [evidence.make_record("check", "b", "ok")])
    assert [r["name"] for r in evidence.read_records(directory)] == ["a", "b"]


def test_a_corrupt_record_inside_the_file_is_an_error(tmp_path):
    directory = str(tmp_path)
    with open(os.path.join(directory, evidence.RECORDS_FILE), "w", encoding="utf-8") as handle:
        handle.write('{"kind": "check", "na{"kind": "check"}\n{"kind": "check"}\n')
    with pytest.raises(ValueError, match="records.jsonl line 1"):
        evidence.read_records(directory)


@pytest.mark.parametrize("name", ["records.jsonl", "journal.jsonl"])
def test_snapshots_and_documents_cannot_replace_the_append_only_logs(tmp_path, name):
    evidence.append_records(str(tmp_path), [evidence.make_record("check", "a", "ok")])
    with pytest.raises(ValueError, match="append-only"):
        evidence.write_json(str(tmp_path), name, {"x": 1})
    with pytest.raises(ValueError, match="append-only"):
        evidence.write_text(str(tmp_path), name, "x")
    assert [r["name"] for r in evidence.read_records(str(tmp_path))] == ["a"]
    from ansible_collections.continuity.recovery.plugins.module_utils import journal
    assert journal.JOURNAL_FILE in evidence.APPEND_ONLY_FILES


def test_url_credentials_are_masked_up_to_the_last_at_before_the_host():
    assert evidence.redact("postgresql://u:p@ss@host/db") == "postgresql://u:********@host/db"
    assert evidence.redact("postgresql://u:p:@w@d@host:5432/db?x=a@b") == "postgresql://u:********@host:5432/db?x=a@b"
    assert evidence.redact("see https://u:pw@h and rsync://r:x@y@z/m") == \
        "see https://u:********@h and rsync://r:********@z/m"


def test_secret_values_include_numbers_but_not_booleans():
    assert evidence.secret_values({"password": 12345678, "token": 1.5, "api_key": True,
                                   "vcenter": {"login_password": 0}}) == {"12345678", "1.5", "0"}
