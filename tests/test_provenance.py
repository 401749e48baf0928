"""Signatures of the pickles TinyRL writes: only files signed with this user's key pass."""

from __future__ import annotations

import stat

import pytest

from tinyrl import provenance
from tinyrl.provenance import UntrustedFileError


@pytest.fixture
def own_key(tmp_path, monkeypatch):
    monkeypatch.delenv(provenance.KEY_VAR, raising=False)
    monkeypatch.setenv(provenance.CONFIG_DIR_VAR, str(tmp_path / "me"))
    return tmp_path / "me" / provenance.KEY_FILE


def test_the_key_is_made_once_readable_by_its_owner_only(own_key):
    first = provenance.key()
    assert stat.S_IMODE(own_key.stat().st_mode) == 0o600
    assert provenance.key() == first and len(first) == 32
    assert not [p for p in own_key.parent.iterdir() if p != own_key]  # no temporary file left behind


def test_a_signed_file_passes_and_any_change_fails(tmp_path, own_key):
    path = tmp_path / "step_1.zip"
    path.write_bytes(b"checkpoint bytes")
    assert provenance.problem(path) == "not signed"
    provenance.sign(path)
    assert provenance.problem(path) is None
    provenance.check([path], tmp_path)
    path.write_bytes(b"checkpoint bytez")
    assert "changed since it was signed" in provenance.problem(path)
    with pytest.raises(UntrustedFileError, match=r"step_1\.zip \(changed since it was signed.*tinyrl trust"):
        provenance.check([path], tmp_path)


def test_a_signature_made_with_another_key_fails_until_trusted(tmp_path, own_key, monkeypatch):
    path = tmp_path / "run" / "checkpoints" / "step_1.zip"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"checkpoint bytes")
    monkeypatch.setenv(provenance.CONFIG_DIR_VAR, str(tmp_path / "someone-else"))
    provenance.sign(path)
    monkeypatch.setenv(provenance.CONFIG_DIR_VAR, str(own_key.parent))
    assert "changed since it was signed" in provenance.problem(path)
    assert provenance.trust(tmp_path / "run") == [path]
    assert provenance.problem(path) is None


def test_signing_a_temporary_file_for_its_final_name(tmp_path, own_key):
    tmp, final = tmp_path / ".step_1.zip.tmp", tmp_path / "step_1.zip"
    tmp.write_bytes(b"checkpoint bytes")
    provenance.sign(tmp, signed_as=final)
    tmp.rename(final)
    assert provenance.problem(final) is None


def test_trust_finds_nested_pickles_only(tmp_path, own_key):
    for name in ("tune/a/tuner.pkl", "tune/a/checkpoint_0/checkpoints/step_1.zip", "tune/a/result.json"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    signed = provenance.trust(tmp_path)
    assert sorted(p.name for p in signed) == ["step_1.zip", "tuner.pkl"]
    assert not (tmp_path / "tune/a/result.json.sig").exists()


def test_a_key_in_the_environment_wins_and_must_be_hex(monkeypatch, own_key):
    monkeypatch.setenv(provenance.KEY_VAR, "ab" * 32)
    assert provenance.key() == bytes.fromhex("ab" * 32)
    assert not own_key.exists()
    monkeypatch.setenv(provenance.KEY_VAR, "not hex")
    with pytest.raises(UntrustedFileError, match="not a hex key"):
        provenance.key()
