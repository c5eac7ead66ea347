"""Properties of the validation and encoding code, checked with Hypothesis.

No server and no network: these call the functions that every request goes
through (name and path validation, the v1 form decoding and base64 tree
encoding, the own-API manifest parsing) with generated input, including
hostile input.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import posixpath
import unicodedata
import urllib.parse
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tornado.httputil import HTTPHeaders, HTTPInputError, parse_body_arguments

from ngshare.protocol.names import (
    MAX_NAME_LENGTH,
    MAX_PATH_COMPONENT,
    MAX_PATH_LENGTH,
    is_valid_name,
    is_valid_relative_path,
)
from ngshare.server.handlers.api.base import JSONHandler
from ngshare.server.handlers.base import APIError
from ngshare.server.handlers.v1.form import URLENCODED, parse_form, parse_urlencoded, unquote_plus
from ngshare.server.handlers.v1.tree import decode_tree, encode_tree
from ngshare.server.service.files import FileView
from ngshare.server.service.intake import read_manifest
from ngshare.server.service.limits import ContentLimits
from ngshare.server.service.transfers import ManifestEntry

pytestmark = pytest.mark.database_independent

# Bounded so the whole module takes a few seconds; derandomized so a failure
# found in CI is found again on every machine.
PROPERTY = settings(max_examples=100, deadline=None, derandomize=True, database=None)

# Characters a path component may hold: anything printable, no slash, no
# backslash, no control characters (category Cc, which includes NUL).
SAFE_CHARS = st.characters(exclude_categories=("Cc", "Cs"), exclude_characters="/\\")
COMPONENT = st.text(SAFE_CHARS, min_size=1, max_size=20).filter(lambda c: c not in (".", ".."))
SAFE_PATH = st.lists(COMPONENT, min_size=1, max_size=6).map("/".join)

# Text with a bias towards the characters that matter for paths.
PATH_ALPHABET = st.one_of(
    st.sampled_from(["/", "\\", ".", "..", "\x00", "\n", "\x7f", "a", "é", " ", ":"]),
    st.characters(exclude_categories=("Cs",)),
)
ANY_PATH = st.lists(PATH_ALPHABET, max_size=30).map("".join)


def is_control(ch: str) -> bool:
    return unicodedata.category(ch) == "Cc"


def expected_safe(path: str) -> bool:
    """The specification of a safe relative path, written independently."""
    if not path or len(path) > MAX_PATH_LENGTH:
        return False
    if path.startswith("/") or "\\" in path or any(is_control(ch) for ch in path):
        return False
    return all(
        part not in ("", ".", "..") and len(part) <= MAX_PATH_COMPONENT for part in path.split("/")
    )


@PROPERTY
@given(ANY_PATH)
def test_relative_path_validation_matches_its_specification(path: str) -> None:
    assert is_valid_relative_path(path) == expected_safe(path)


@PROPERTY
@given(ANY_PATH)
def test_accepted_paths_are_relative_and_clean(path: str) -> None:
    if not is_valid_relative_path(path):
        return
    assert not posixpath.isabs(path)
    assert "\\" not in path and "\x00" not in path
    assert not any(is_control(ch) for ch in path)
    assert all(part not in ("", ".", "..") for part in path.split("/"))
    # Already normal: normalising changes nothing, so nothing collapses.
    assert posixpath.normpath(path) == path


@PROPERTY
@given(SAFE_PATH)
def test_safe_paths_are_accepted(path: str) -> None:
    assert is_valid_relative_path(path) == (len(path) <= MAX_PATH_LENGTH)


@PROPERTY
@given(ANY_PATH, st.sampled_from(["/srv/root", "/srv/root/", "/"]))
def test_accepted_paths_never_escape_a_root(path: str, root: str) -> None:
    if not is_valid_relative_path(path):
        return
    joined = posixpath.normpath(posixpath.join(root, path))
    root = posixpath.normpath(root)
    assert posixpath.commonpath([root, joined]) == root
    assert joined != root


@PROPERTY
@given(SAFE_PATH, st.sampled_from(["..", ".", ""]), st.integers(min_value=0, max_value=6))
def test_dot_and_empty_components_are_refused_anywhere(path: str, bad: str, position: int) -> None:
    parts = path.split("/")
    parts.insert(min(position, len(parts)), bad)
    assert not is_valid_relative_path("/".join(parts))


@PROPERTY
@given(SAFE_PATH, st.sampled_from(["\\", "\x00", "\n", "\r", "\t", "\x1b", "\x7f", "\x85"]))
def test_backslash_and_control_characters_are_refused(path: str, bad: str) -> None:
    middle = len(path) // 2
    assert not is_valid_relative_path(path[:middle] + bad + path[middle:])
    assert not is_valid_relative_path("/" + path)


@PROPERTY
@given(st.one_of(st.none(), st.integers(), st.binary(), st.lists(st.text())))
def test_non_strings_are_not_paths(value: object) -> None:
    assert not is_valid_relative_path(value)


def expected_name(name: str) -> bool:
    return (
        0 < len(name) <= MAX_NAME_LENGTH
        and name == name.strip()
        and name not in (".", "..")
        and "/" not in name
        and "\\" not in name
        and not any(is_control(ch) for ch in name)
    )


@PROPERTY
@given(ANY_PATH)
def test_name_validation_matches_its_specification(name: str) -> None:
    assert is_valid_name(name) == expected_name(name)


@PROPERTY
@given(COMPONENT.filter(lambda c: c == c.strip()))
def test_names_are_valid_path_components(name: str) -> None:
    # A valid name is used as a directory name on the clients' side, so it
    # must also be a safe one-component relative path.
    if is_valid_name(name):
        assert is_valid_relative_path(name)


TREE = st.dictionaries(SAFE_PATH, st.binary(max_size=300), max_size=6)


def views(tree: dict[str, bytes]) -> list[FileView]:
    return [
        FileView(
            path=path,
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
            md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
        )
        for path, data in tree.items()
    ]


@PROPERTY
@given(TREE)
def test_tree_encoding_round_trips(tree: dict[str, bytes]) -> None:
    encoded = encode_tree(views(tree), list(tree.values()))
    # Through JSON, as on the wire.
    decoded = decode_tree(json.dumps(encoded))
    assert [(f.path, f.content) for f in decoded] == list(tree.items())


@PROPERTY
@given(TREE)
def test_listing_without_contents_has_checksums(tree: dict[str, bytes]) -> None:
    listed = encode_tree(views(tree), None)
    assert [e["path"] for e in listed] == list(tree)
    assert all("content" not in e for e in listed)
    assert [e["checksum"] for e in listed] == [
        hashlib.md5(d, usedforsecurity=False).hexdigest() for d in tree.values()
    ]


@PROPERTY
@given(st.binary(max_size=300), st.integers(min_value=1, max_value=76))
def test_line_broken_base64_from_older_clients_is_accepted(data: bytes, width: int) -> None:
    text = base64.b64encode(data).decode()
    broken = "\n".join(text[i : i + width] for i in range(0, len(text), width)) + "\n"
    [decoded] = decode_tree(json.dumps([{"path": "f", "content": broken}]))
    assert decoded.content == data


def is_strict_base64(text: str) -> bool:
    stripped = "".join(ch for ch in text if ch not in "\r\n\t ")
    try:
        base64.b64decode(stripped, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


@PROPERTY
@given(
    st.text(
        st.one_of(
            st.sampled_from("AQab+/=\n -_.!é\x00"), st.characters(exclude_categories=("Cs",))
        ),
        max_size=40,
    )
)
def test_invalid_base64_is_refused_with_400(content: str) -> None:
    raw = json.dumps([{"path": "f", "content": content}])
    if is_strict_base64(content):
        decode_tree(raw)
        return
    with pytest.raises(APIError) as caught:
        decode_tree(raw)
    assert caught.value.status_code == 400


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)
ENTRY = st.fixed_dictionaries(
    {},
    optional={
        "path": st.one_of(SAFE_PATH, ANY_PATH, JSON_VALUES),
        "content": st.one_of(st.text(max_size=20), JSON_VALUES),
        "checksum": st.one_of(st.text(max_size=40), JSON_VALUES),
    },
)


@PROPERTY
@given(st.one_of(st.lists(ENTRY, max_size=4), JSON_VALUES).map(json.dumps) | st.text())
def test_tree_decoding_fails_only_with_400(raw: str) -> None:
    try:
        files = decode_tree(raw)
    except APIError as error:
        assert error.status_code == 400
        return
    assert all(is_valid_relative_path(f.path) for f in files)
    assert len({f.path for f in files}) == len(files)


MAX_FILE_SIZE = 1000


def parse_manifest(body: bytes) -> list[ManifestEntry]:
    """JSONHandler.manifest on a request body, without a server.

    The handler reads the body's JSON and hands it to the intake's manifest
    check with the configured limits, so stand-ins for the handler and the
    runner are enough to reach both.
    """
    limits = ContentLimits(max_file_size=MAX_FILE_SIZE)
    intake = SimpleNamespace(manifest=lambda fields: read_manifest(fields, limits))
    handler: Any = SimpleNamespace(
        request=SimpleNamespace(body=body), runner=SimpleNamespace(intake=intake)
    )
    handler.json_body = lambda: JSONHandler.json_body(handler)
    handler.json_object = lambda raw: JSONHandler.json_object(handler, raw)
    return JSONHandler.manifest(handler)


SHA = st.text("0123456789abcdef", min_size=64, max_size=64)
FILE = st.fixed_dictionaries(
    {},
    optional={
        "path": st.one_of(SAFE_PATH, ANY_PATH, JSON_VALUES),
        "sha256": st.one_of(SHA, st.text(max_size=70), JSON_VALUES),
        "size": st.one_of(st.integers(min_value=-5, max_value=2 * MAX_FILE_SIZE), JSON_VALUES),
    },
)
BODY = st.one_of(
    st.fixed_dictionaries({"files": st.lists(FILE, max_size=4)}).map(json.dumps),
    JSON_VALUES.map(json.dumps),
    st.text(),
).map(str.encode) | st.binary(max_size=50)


@PROPERTY
@given(BODY)
def test_manifest_parsing_fails_only_with_client_errors(body: bytes) -> None:
    try:
        entries = parse_manifest(body)
    except APIError as error:
        assert error.status_code in (400, 413)
        return
    manifest = json.loads(body)["files"]
    assert [(e.path, e.sha256, e.size) for e in entries] == [
        (f["path"], f["sha256"], f["size"]) for f in manifest
    ]
    for entry in entries:
        assert is_valid_relative_path(entry.path)
        assert 0 <= entry.size <= MAX_FILE_SIZE
        assert len(entry.sha256) == 64


@PROPERTY
@given(st.dictionaries(SAFE_PATH, st.tuples(SHA, st.integers(0, MAX_FILE_SIZE)), max_size=5))
def test_valid_manifests_are_parsed_exactly(files: dict[str, tuple[str, int]]) -> None:
    body = {"files": [{"path": p, "sha256": h, "size": n} for p, (h, n) in files.items()]}
    entries = parse_manifest(json.dumps(body).encode())
    assert entries == [ManifestEntry(p, h, n) for p, (h, n) in files.items()]


# -- v1 form bodies ---------------------------------------------------------------------


def tornado_form(content_type: str, body: bytes) -> dict[str, list[bytes]] | HTTPInputError:
    """What Tornado's own parser finds in a body (or the error it raises)."""
    fields: dict[str, list[bytes]] = {}
    try:
        parse_body_arguments(content_type, body, fields, {}, HTTPHeaders())
    except HTTPInputError as error:
        return error
    return fields


def fast_form(content_type: str, body: bytes) -> dict[str, list[bytes]] | HTTPInputError:
    try:
        return parse_form(content_type, body, HTTPHeaders())
    except HTTPInputError as error:
        return error


def same_outcome(content_type: str, body: bytes) -> None:
    expected, found = tornado_form(content_type, body), fast_form(content_type, body)
    if isinstance(expected, HTTPInputError):
        assert isinstance(found, HTTPInputError)
        assert str(found) == str(expected)
    else:
        assert found == expected
        # Same order of fields too, as a handler iterating them would see.
        assert list(found) == list(expected)


FORM_TEXT = st.text(
    st.one_of(st.sampled_from("%=&+;# \n\r\x00é€🎉"), st.characters(exclude_categories=("Cs",))),
    max_size=30,
)
FORM_PAIRS = st.lists(st.tuples(FORM_TEXT, FORM_TEXT), max_size=6)
# Many more examples than elsewhere: each is cheap, and the fast decoder's
# shortcuts are exactly where rare inputs would differ.
FORM_PROPERTY = settings(PROPERTY, max_examples=1000)


@FORM_PROPERTY
@given(FORM_PAIRS, st.sampled_from(["", "/", "/+=", "%"]))
def test_encoded_forms_decode_as_tornado_decodes_them(
    pairs: list[tuple[str, str]], safe: str
) -> None:
    """Forms as clients encode them: decoded the fast way, to Tornado's result."""
    body = urllib.parse.urlencode(pairs, safe=safe).encode("ascii")
    same_outcome(URLENCODED, body)
    if safe in ("", "/"):
        # Input encoded in full never needs the fallback (with "%" or "="
        # left unescaped, it may not be well-formed).
        assert parse_urlencoded(body) is not None


# Raw bytes biased towards what makes percent-decoding go wrong.
FORM_BYTES = st.lists(
    st.one_of(
        st.sampled_from(
            [b"%", b"%2", b"%25", b"%3D", b"%3d", b"%2B", b"%zz", b"%%", b"%0A", b"%E2%82%AC"]
        ),
        st.sampled_from([b"=", b"&", b"+", b";", b"\n", b"\r", b"\r\n", b"a", b"F", b"0", b"\xff"]),
        st.binary(max_size=4),
    ),
    max_size=24,
).map(b"".join)


@FORM_PROPERTY
@given(FORM_BYTES)
def test_any_body_decodes_as_tornado_decodes_it(body: bytes) -> None:
    same_outcome(URLENCODED, body)
    same_outcome(URLENCODED + "; charset=UTF-8", body)


@FORM_PROPERTY
@given(FORM_BYTES)
def test_fast_unquoting_is_exact_or_declines(raw: bytes) -> None:
    decoded = unquote_plus(raw)
    if decoded is not None:
        assert decoded == urllib.parse.unquote_to_bytes(raw.replace(b"+", b" "))


@pytest.mark.parametrize(
    "body",
    [
        b"a=1;b=2",  # ";" separates nothing since Python 3.10
        b"a=1&a=2&a=",  # repeated names, an empty value
        b"a&=x&&b==c&",  # no "=", no name, empty fields, "=" in a value
        b"files=%5B%7B%22x%22%3A+%22%2B%2F%3D%22%7D%5D",  # a small v1 upload
        b"f=%25%32%35%3D%253D",  # escapes of "%" and "=" stay decoded once
        b"f=%zz%2%",  # invalid escapes, a final "%"
        b"f=%%41%=41",
        b"f=%0A%0d%\n%\r\n",
        # Each would decode wrongly but to the right length without one of
        # the fast decoder's checks: a "=" of its own, "%" before LF, before CR.
        b"f=%zz=41",
        b"f=a%\nb",
        b"f=%zz%\rAB",
        b"%C3%A9t%C3%A9=%E2%82%AC&%FF=%ff",  # names are read as latin-1
        b"f=\xc3\xa9%20\xff",  # raw bytes outside ASCII
        b"&".join(b"f=%20" for _ in range(100)),  # more fields than the fast path takes
        b"&".join(b"f" for _ in range(1001)),  # more than Tornado accepts
    ],
)
def test_form_examples_decode_as_tornado_decodes_them(body: bytes) -> None:
    same_outcome(URLENCODED, body)


def test_other_bodies_are_left_to_tornado() -> None:
    multipart = b'--b\r\nContent-Disposition: form-data; name="f"\r\n\r\n%41+\r\n--b--\r\n'
    assert fast_form("multipart/form-data; boundary=b", multipart) == {"f": [b"%41+"]}
    same_outcome("multipart/form-data; boundary=b", multipart)
    same_outcome("text/plain", b"f=1")
    gzipped = HTTPHeaders({"Content-Encoding": "gzip"})
    with pytest.raises(HTTPInputError):
        parse_form(URLENCODED, b"f=1", gzipped)
