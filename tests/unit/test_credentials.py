"""Credential sources that need no network: the environment, `*_FILE` secrets, the credentials file, the chain."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from exporter.tencentcloud.chain import CredentialChain, default_chain
from exporter.tencentcloud.credentials import (
    MAX_SECRET_FILE_BYTES,
    Credentials,
    EnvProvider,
    ProfileFileProvider,
    StaticProvider,
)
from exporter.tencentcloud.errors import CredentialError

SECRET_KEY = "sk-Very-Secret-Value-0123456789"
TOKEN = "tok-Very-Secret-Token-0123456789"


def test_repr_and_str_hide_the_key_and_token() -> None:
    creds = Credentials("AKIDexample", SECRET_KEY, TOKEN)
    for text in (repr(creds), str(creds), f"{creds}", repr([creds])):
        assert "AKIDexample" in text
        assert SECRET_KEY not in text and TOKEN not in text
    assert "token" not in repr(Credentials("AKIDexample", SECRET_KEY))


async def test_environment() -> None:
    env = {"TENCENTCLOUD_SECRET_ID": "AKIDenv", "TENCENTCLOUD_SECRET_KEY": SECRET_KEY}
    provider = EnvProvider(env)
    assert await provider.available()
    assert await provider.get() == Credentials("AKIDenv", SECRET_KEY, None)
    env["TENCENTCLOUD_SECURITY_TOKEN"] = TOKEN
    assert await provider.get() == Credentials("AKIDenv", SECRET_KEY, TOKEN)


async def test_environment_partial_is_a_clear_error() -> None:
    provider = EnvProvider({"TENCENTCLOUD_SECRET_ID": "AKIDenv"})
    assert await provider.available()
    with pytest.raises(CredentialError) as caught:
        await provider.get()
    assert caught.value.provider == "environment"
    assert "TENCENTCLOUD_SECRET_KEY" in str(caught.value)
    assert "\n" not in str(caught.value)


async def test_environment_not_configured() -> None:
    assert not await EnvProvider({}).available()
    assert not await EnvProvider({"TENCENTCLOUD_SECRET_ID": "  "}).available()
    assert not await EnvProvider({"TENCENTCLOUD_SECRET_ID": "AKIDenv"}, files=True).available()


def _write(path: Path, text: str) -> None:
    """Replace the file the way Kubernetes does: a new inode swapped in atomically."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


async def test_file_variants_are_stripped_and_reread_on_rotation(tmp_path: Path) -> None:
    id_file, key_file, token_file = tmp_path / "id", tmp_path / "key", tmp_path / "token"
    _write(id_file, "AKIDfile1\n")
    _write(key_file, f"  {SECRET_KEY}1\n")
    _write(token_file, f"{TOKEN}1\n")
    env = {
        "TENCENTCLOUD_SECRET_ID_FILE": str(id_file),
        "TENCENTCLOUD_SECRET_KEY_FILE": str(key_file),
        "TENCENTCLOUD_SECURITY_TOKEN_FILE": str(token_file),
    }
    provider = EnvProvider(env, files=True)
    assert await provider.available()
    assert not await EnvProvider(env).available()
    assert await provider.get() == Credentials("AKIDfile1", SECRET_KEY + "1", TOKEN + "1")

    _write(id_file, "AKIDfile2")
    _write(key_file, SECRET_KEY + "2")
    _write(token_file, TOKEN + "2")
    assert await provider.get() == Credentials("AKIDfile2", SECRET_KEY + "2", TOKEN + "2")


async def test_file_rewritten_in_place_is_reread(tmp_path: Path) -> None:
    """Same inode, same size: the modification time alone must trigger a new read."""
    key_file = tmp_path / "key"
    key_file.write_text("A" * 20)
    env = {"TENCENTCLOUD_SECRET_ID": "AKID", "TENCENTCLOUD_SECRET_KEY_FILE": str(key_file)}
    provider = EnvProvider(env)
    assert (await provider.get()).secret_key == "A" * 20
    key_file.write_text("B" * 20)
    stat = key_file.stat()
    os.utime(key_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert (await provider.get()).secret_key == "B" * 20


async def test_file_variant_errors_name_the_file_not_the_value(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    env = {"TENCENTCLOUD_SECRET_ID_FILE": str(tmp_path / "id"), "TENCENTCLOUD_SECRET_KEY_FILE": str(key_file)}
    (tmp_path / "id").write_text("AKIDfile")
    provider = EnvProvider(env, files=True)
    with pytest.raises(CredentialError) as caught:
        await provider.get()
    assert caught.value.provider == "environment files"
    assert "TENCENTCLOUD_SECRET_KEY_FILE" in str(caught.value) and str(key_file) in str(caught.value)
    key_file.write_text("  \n")
    with pytest.raises(CredentialError, match="TENCENTCLOUD_SECRET_KEY"):
        await provider.get()
    key_file.write_text(f"{SECRET_KEY} trailing")
    with pytest.raises(CredentialError, match="whitespace") as caught:
        await provider.get()
    assert SECRET_KEY not in str(caught.value)


async def test_credentials_file(tmp_path: Path) -> None:
    path = tmp_path / "credentials"
    path.write_text(f'[default]\nsecret_id = AKIDini\nsecret_key = "{SECRET_KEY}"\n\n[other]\nsecret_id = x\n')
    provider = ProfileFileProvider(environ={"TENCENTCLOUD_CREDENTIALS_FILE": str(path)})
    assert await provider.available()
    assert await provider.get() == Credentials("AKIDini", SECRET_KEY, None)
    _write(path, f"[default]\nsecret_id=AKIDini2\nsecret_key={SECRET_KEY}%2\ntoken={TOKEN}\n")
    assert await provider.get() == Credentials("AKIDini2", SECRET_KEY + "%2", TOKEN)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (f"secret_key = {SECRET_KEY}\n", "not a valid INI file (line 1)"),
        (f"[default]\nsecret_key = {SECRET_KEY}\nsecret_key = {SECRET_KEY}\n", "not a valid INI file"),
        (f"[profile]\nsecret_key = {SECRET_KEY}\n", "no [default] section"),
        (f"[default]\nsecret_key = {SECRET_KEY}\n", "no secret_id"),
        ("[default]\nsecret_id = AKID\n", "no secret_key"),
    ],
)
async def test_credentials_file_errors_never_quote_the_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "credentials"
    path.write_text(content)
    with pytest.raises(CredentialError) as caught:
        await ProfileFileProvider(str(path), environ={}).get()
    text = str(caught.value)
    assert message in text and str(path) in text
    assert SECRET_KEY not in text and "\n" not in text


async def test_credentials_file_default_locations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    provider = ProfileFileProvider(environ={})
    if Path("/etc/tencentcloud/credentials").exists():  # pragma: no cover - a machine with a real file
        pytest.skip("this machine has /etc/tencentcloud/credentials")
    assert not await provider.available()
    home_file = tmp_path / ".tencentcloud" / "credentials"
    home_file.parent.mkdir()
    home_file.write_text(f"[default]\nsecret_id=AKIDhome\nsecret_key={SECRET_KEY}\n")
    assert await provider.available()
    assert (await provider.get()).secret_id == "AKIDhome"


async def test_explicit_missing_credentials_file_is_reported(tmp_path: Path) -> None:
    provider = ProfileFileProvider(str(tmp_path / "nope"), environ={})
    assert await provider.available()
    with pytest.raises(CredentialError, match=r"cannot read .*nope: No such file"):
        await provider.get()


class Counting(StaticProvider):
    def __init__(self, name: str, configured: bool) -> None:
        super().__init__(Credentials(f"AKID{name}", SECRET_KEY), name)
        self.configured = configured
        self.asked = 0

    async def available(self) -> bool:
        self.asked += 1
        return self.configured


async def test_chain_picks_the_first_configured_and_sticks_with_it() -> None:
    first, second, third = Counting("a", False), Counting("b", True), Counting("c", True)
    chain = CredentialChain([first, second, third])
    assert chain.name == "default chain"
    results = await asyncio.gather(*(chain.get() for _ in range(5)))
    assert {creds.secret_id for creds in results} == {"AKIDb"}
    assert chain.name == "b" and chain.provider is second
    first.configured = True  # later changes to the environment do not move the chain
    assert (await chain.get()).secret_id == "AKIDb"
    assert (first.asked, second.asked, third.asked) == (1, 1, 0)


async def test_chain_with_nothing_configured_names_what_it_tried() -> None:
    chain = CredentialChain([Counting("a", False), Counting("b", False)])
    with pytest.raises(CredentialError, match=r"default chain: no credentials found \(tried: a, b\)"):
        await chain.get()


async def test_default_chain_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    path = tmp_path / "credentials"
    path.write_text(f"[default]\nsecret_id=AKIDini\nsecret_key={SECRET_KEY}\n")
    key_file = tmp_path / "key"
    key_file.write_text(SECRET_KEY)
    env = {
        "TENCENTCLOUD_SECRET_ID": "AKIDenv",
        "TENCENTCLOUD_SECRET_KEY": SECRET_KEY,
        "TENCENTCLOUD_SECRET_KEY_FILE": str(key_file),
        "TENCENTCLOUD_CREDENTIALS_FILE": str(path),
        "TKE_ROLE_ARN": "qcs::cam::uin/1:roleName/r",
    }
    # Each case removes the winner of the previous one; the metadata service is never reached.
    unreachable = "http://127.0.0.1:9"
    cases = [
        ({}, "environment", "AKIDenv"),
        ({"TENCENTCLOUD_SECRET_KEY"}, "environment", "AKIDenv"),  # the key then comes from its file
        ({"TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY"}, "environment files", None),
    ]
    for removed, name, secret_id in cases:
        chain = default_chain(environ={k: v for k, v in env.items() if k not in removed}, metadata_url=unreachable)
        if secret_id is None:
            with pytest.raises(CredentialError, match="environment files: neither TENCENTCLOUD_SECRET_ID "):
                await chain.get()
        else:
            assert (await chain.get()).secret_id == secret_id
        assert chain.name == name
    chain = default_chain(
        environ={"TENCENTCLOUD_CREDENTIALS_FILE": str(path), "TKE_ROLE_ARN": "x"}, metadata_url=unreachable
    )
    assert (await chain.get()).secret_id == "AKIDini" and chain.name == "credentials file"
    chain = default_chain(environ={"TKE_ROLE_ARN": "x"}, metadata_url=unreachable)
    with pytest.raises(CredentialError, match="tke-oidc: missing environment variable TKE_REGION, TKE_PROVIDER_ID"):
        await chain.get()


async def test_default_chain_falls_back_to_the_metadata_service_last(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/nonexistent")
    if Path("/etc/tencentcloud/credentials").exists():  # pragma: no cover
        pytest.skip("this machine has /etc/tencentcloud/credentials")
    chain = default_chain(environ={}, metadata_url="http://127.0.0.1:9", metadata_probe_timeout=0.5)
    with pytest.raises(CredentialError) as caught:
        await chain.get()
    assert str(caught.value) == (
        "CredentialError: default chain: no credentials found "
        "(tried: environment, environment files, credentials file, tke-oidc, cvm-role)"
    )


async def test_a_byte_order_mark_in_a_secret_file_is_dropped(tmp_path: Path) -> None:
    id_file, key_file = tmp_path / "id", tmp_path / "key"
    id_file.write_bytes(b"\xef\xbb\xbfAKIDbom\n")
    key_file.write_bytes(b"\xef\xbb\xbf" + SECRET_KEY.encode())
    env = {"TENCENTCLOUD_SECRET_ID_FILE": str(id_file), "TENCENTCLOUD_SECRET_KEY_FILE": str(key_file)}
    assert await EnvProvider(env, files=True).get() == Credentials("AKIDbom", SECRET_KEY, None)


@pytest.mark.parametrize(
    ("env", "part"),
    [
        ({"TENCENTCLOUD_SECRET_ID": "AKID\u00e9x", "TENCENTCLOUD_SECRET_KEY": SECRET_KEY}, "secret id"),
        ({"TENCENTCLOUD_SECRET_ID": "AKIDx", "TENCENTCLOUD_SECRET_KEY": SECRET_KEY + "\u00e9"}, "secret key"),
        (
            {
                "TENCENTCLOUD_SECRET_ID": "AKIDx",
                "TENCENTCLOUD_SECRET_KEY": SECRET_KEY,
                "TENCENTCLOUD_SECURITY_TOKEN": "a\nb",
            },
            "session token",
        ),
    ],
)
async def test_credentials_that_cannot_go_in_a_header_are_refused_by_name(env: dict[str, str], part: str) -> None:
    with pytest.raises(CredentialError) as caught:
        await EnvProvider(env).get()
    message = str(caught.value)
    assert caught.value.provider == "environment" and part in message
    assert SECRET_KEY not in message and "\u00e9" not in message and "\n" not in message


@pytest.mark.parametrize("files", [False, True])
async def test_a_plain_variable_wins_over_its_file_variant_with_different_values(tmp_path: Path, files: bool) -> None:
    """Every part given both ways, each way with its own value: the variable's value is the one used."""
    plain = {
        "TENCENTCLOUD_SECRET_ID": "AKIDplain",
        "TENCENTCLOUD_SECRET_KEY": "key-plain",
        "TENCENTCLOUD_SECURITY_TOKEN": "tok-plain",
    }
    env = dict(plain)
    for name, value in (
        ("TENCENTCLOUD_SECRET_ID", "AKIDfile"),
        ("TENCENTCLOUD_SECRET_KEY", "key-file"),
        ("TENCENTCLOUD_SECURITY_TOKEN", "tok-file"),
    ):
        path = tmp_path / name
        path.write_text(value + "\n")
        env[name + "_FILE"] = str(path)
    got = await EnvProvider(env, files=files).get()
    assert (got.secret_id, got.secret_key, got.token) == ("AKIDplain", "key-plain", "tok-plain")
    for name, from_file in (
        ("TENCENTCLOUD_SECRET_ID", ("AKIDfile", "key-plain", "tok-plain")),
        ("TENCENTCLOUD_SECRET_KEY", ("AKIDplain", "key-file", "tok-plain")),
        ("TENCENTCLOUD_SECURITY_TOKEN", ("AKIDplain", "key-plain", "tok-file")),
    ):
        without = {k: v for k, v in env.items() if k != name}
        got = await EnvProvider(without, files=files).get()
        assert (got.secret_id, got.secret_key, got.token) == from_file, name
    only_files = {k: v for k, v in env.items() if k not in plain}
    got = await EnvProvider(only_files, files=True).get()
    assert (got.secret_id, got.secret_key, got.token) == ("AKIDfile", "key-file", "tok-file")


async def test_the_chain_prefers_the_plain_variables_to_the_files(tmp_path: Path) -> None:
    key_file, id_file = tmp_path / "key", tmp_path / "id"
    key_file.write_text("key-file")
    id_file.write_text("AKIDfile")
    env = {
        "TENCENTCLOUD_SECRET_ID": "AKIDplain",
        "TENCENTCLOUD_SECRET_KEY": "key-plain",
        "TENCENTCLOUD_SECRET_ID_FILE": str(id_file),
        "TENCENTCLOUD_SECRET_KEY_FILE": str(key_file),
    }
    chain = default_chain(environ=env, metadata_url="http://127.0.0.1:9")
    got = await chain.get()
    assert (chain.name, got.secret_id, got.secret_key) == ("environment", "AKIDplain", "key-plain")


def _hostile_files(tmp_path: Path) -> list[tuple[str, str]]:
    """Paths that must never be read as a secret, with the phrase their refusal gives: a FIFO (the read would
    wait for a writer for ever), a device that never ends, a directory and a file far over the limit."""
    fifo = tmp_path / "secret.fifo"
    os.mkfifo(fifo)
    huge = tmp_path / "huge"
    with huge.open("wb") as file:  # sparse: only the size is ever looked at
        file.write(b"AKID\n")
        file.truncate(50_000_000)
    return [
        (str(fifo), "not a regular file"),
        ("/dev/zero", "not a regular file"),
        (str(tmp_path), "not a regular file"),
        (str(huge), f"50000000 bytes is too large for a secret file (at most {MAX_SECRET_FILE_BYTES})"),
    ]


@pytest.mark.timeout(20)
async def test_a_secret_file_that_is_no_small_regular_file_is_refused_without_reading(tmp_path: Path) -> None:
    (tmp_path / "id").write_text("AKIDfile")
    for path, problem in _hostile_files(tmp_path):
        env = {"TENCENTCLOUD_SECRET_ID_FILE": str(tmp_path / "id"), "TENCENTCLOUD_SECRET_KEY_FILE": path}
        with pytest.raises(CredentialError) as caught:
            await EnvProvider(env, files=True).get()
        assert (
            str(caught.value) == f"CredentialError: environment files: TENCENTCLOUD_SECRET_KEY_FILE {path}: {problem}"
        )


async def test_a_secret_file_just_within_the_limit_is_read(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(SECRET_KEY + "\n" * (MAX_SECRET_FILE_BYTES - len(SECRET_KEY)))
    assert key_file.stat().st_size == MAX_SECRET_FILE_BYTES
    env = {"TENCENTCLOUD_SECRET_ID": "AKID", "TENCENTCLOUD_SECRET_KEY_FILE": str(key_file)}
    assert (await EnvProvider(env, files=True).get()).secret_key == SECRET_KEY


@pytest.mark.timeout(20)
async def test_a_credentials_file_that_is_no_small_regular_file_is_refused_without_reading(tmp_path: Path) -> None:
    for path, problem in _hostile_files(tmp_path):
        with pytest.raises(CredentialError) as caught:
            await ProfileFileProvider(path, environ={}).get()
        expected = problem.replace("a secret file", "a credentials file")
        assert str(caught.value) == f"CredentialError: credentials file: {path}: {expected}"
