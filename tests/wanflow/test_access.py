"""Tokens and reviewer accounts in a real bucket: only hashes are stored, checks are exact, and
two writers changing a list at once never lose each other's change."""

from __future__ import annotations

import threading

import pytest

from wanflow import access as access_module
from wanflow.access import REVIEWERS, TOKENS, Access, AccessError


def _stored(storage, prefix: str) -> bytes:
    return b"".join(storage.get_bytes(o.key) for o in storage.list(prefix))


def test_a_token_is_shown_once_and_stored_only_as_a_hash(storage):
    access = Access(storage)
    secret = access.create_token("ci-bot", "submit")
    assert secret.startswith("wf_") and len(secret) > 40
    assert secret.encode() not in _stored(storage, TOKENS)
    found = access.verify_token(secret)
    assert found is not None and (found.name, found.scope) == ("ci-bot", "submit")
    assert access.verify_token(secret + "x") is None
    assert access.verify_token("") is None
    assert [(t.name, t.scope) for t in Access(storage).tokens()] == [("ci-bot", "submit")]
    assert secret not in repr(access.tokens())


def test_revoked_tokens_stop_working_and_names_and_scopes_are_checked(storage):
    access = Access(storage)
    reader = access.create_token("reader", "read")
    other = access.create_token("reviewer", "review")
    with pytest.raises(AccessError, match="exists"):
        access.create_token("reader", "read")
    with pytest.raises(AccessError, match="scope"):
        access.create_token("admin", "admin")
    with pytest.raises(AccessError, match="name"):
        access.create_token("../x", "read")
    access.revoke_token("reader")
    assert access.verify_token(reader) is None
    assert access.verify_token(other).name == "reviewer"
    with pytest.raises(AccessError, match="no token"):
        access.revoke_token("reader")
    assert [t.name for t in access.tokens()] == ["reviewer"]


def test_a_service_reads_the_list_once_per_version_and_sees_another_process_revoke(storage):
    service, operator = Access(storage), Access(storage)  # as `wanflow serve` and `wanflow tokens`
    secret = operator.create_token("app", "submit")
    reads = []
    get_bytes = storage.get_bytes
    storage.get_bytes = lambda key, *a, **k: reads.append(key) or get_bytes(key, *a, **k)
    for _ in range(3):
        assert service.verify_token(secret).name == "app"
    assert len(reads) == 1  # the version's entries are fetched once; later checks only list
    operator.revoke_token("app")
    assert service.verify_token(secret) is None  # the very next check, no waiting
    operator.create_token("app", "read")
    assert service.verify_token(secret) is None  # a new token of the old name is a new secret


def test_concurrent_writers_keep_every_change(storage):
    names = [f"bot-{i}" for i in range(6)]
    secrets: dict[str, str] = {}
    errors: list[BaseException] = []

    def create(name: str) -> None:
        try:
            secrets[name] = Access(storage).create_token(name, "read")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    access = Access(storage)
    assert sorted(t.name for t in access.tokens()) == names
    assert all(access.verify_token(s).name == n for n, s in secrets.items())


def test_a_writer_that_lost_the_race_reapplies_its_change(storage):
    """Writer A reads the list, B writes in between: A's conditional create is refused, and A
    re-reads and re-applies instead of overwriting B's token."""
    a, b = Access(storage), Access(storage)
    calls = []
    original = access_module._Chain.read

    def read_then_interleave(chain):
        result = original(chain)
        if not calls:
            calls.append(1)
            b.create_token("b", "read")
        return result

    chain = a._tokens
    chain.read = lambda: read_then_interleave(chain)
    a.create_token("a", "submit")
    assert sorted(t.name for t in Access(storage).tokens()) == ["a", "b"]


def test_old_versions_are_pruned_and_a_writer_behind_the_pruning_tries_again(storage):
    a = Access(storage)
    a.create_token("first", "read")
    stale_version, stale_entries = a._tokens.read()
    for i in range(access_module.KEEP_VERSIONS + 4):
        a.create_token(f"t{i}", "read")
    versions = a._tokens._versions()
    assert len(versions) == access_module.KEEP_VERSIONS + 1
    assert stale_version + 1 not in versions  # the slot after the stale read is free again
    served = iter([(stale_version, dict(stale_entries))])
    original = a._tokens.read
    a._tokens.read = lambda: next(served, None) or original()
    a.create_token("late", "read")
    names = {t.name for t in Access(storage).tokens()}
    assert {"first", "late", *(f"t{i}" for i in range(access_module.KEEP_VERSIONS + 4))} == names
    assert stale_version + 1 not in a._tokens._versions()


def test_reviewer_passwords_are_salted_scrypt_hashes(storage):
    access = Access(storage)
    access.add_reviewer("ana", "correct horse")
    access.add_reviewer("bo", "correct horse")
    stored = _stored(storage, REVIEWERS)
    assert b"correct horse" not in stored
    assert access.verify_reviewer("ana", "correct horse")
    assert not access.verify_reviewer("ana", "correct horsf")
    assert not access.verify_reviewer("nobody", "correct horse")
    assert not access.verify_reviewer("../ana", "correct horse")
    _version, entries = access._reviewers.read()
    assert entries["ana"]["salt"] != entries["bo"]["salt"]
    assert entries["ana"]["hash"] != entries["bo"]["hash"]
    assert [r.name for r in access.reviewers()] == ["ana", "bo"]


def test_reviewer_accounts_are_added_replaced_and_removed(storage):
    access = Access(storage)
    with pytest.raises(AccessError, match="8 to"):
        access.add_reviewer("ana", "short")
    access.add_reviewer("ana", "first password")
    with pytest.raises(AccessError, match="exists"):
        access.add_reviewer("ana", "second password")
    access.add_reviewer("ana", "second password", replace=True)
    assert not access.verify_reviewer("ana", "first password")
    assert access.verify_reviewer("ana", "second password")
    access.remove_reviewer("ana")
    assert not access.verify_reviewer("ana", "second password")
    assert access.reviewers() == []
    with pytest.raises(AccessError, match="no reviewer"):
        access.remove_reviewer("ana")
