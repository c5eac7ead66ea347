"""The OAuth login state that replicas share, on its own.

tests/test_hub_external.py logs in through a real hub across replicas; these
check the state itself: what one replica makes another reads, what a browser
or anyone watching URLs sees of it, and what nobody else can make.
"""

from __future__ import annotations

import json
import secrets
import time

import pytest
from cryptography.fernet import Fernet

from ngshare.server.auth.oauth_state import SharedStateHubOAuth, state_key

pytestmark = pytest.mark.database_independent

PREFIX = "/services/ngshare/"


def replica(cookie_secret: bytes) -> SharedStateHubOAuth:
    return SharedStateHubOAuth(
        cookie_secret=cookie_secret,
        base_url=PREFIX,
        api_url="http://127.0.0.1:8081/hub/api",
        api_token="unused",
    )


def test_a_state_made_by_one_replica_is_read_by_another() -> None:
    cookie_secret = secrets.token_bytes(32)
    a, b = replica(cookie_secret), replica(cookie_secret)
    verifier, _, _ = a.generate_pkce_code_challenge()
    state = a.generate_state(PREFIX + "courses", code_verifier=verifier, cookie_name="x-1")
    assert b.get_next_url(state) == PREFIX + "courses"
    assert b.get_code_verifier(state) == verifier
    assert b.get_state_cookie_name(state) == "x-1"
    # Every login gets its own state, even for the same page.
    assert a.generate_state(PREFIX + "courses") != a.generate_state(PREFIX + "courses")


def test_the_state_hides_the_code_verifier() -> None:
    a = replica(secrets.token_bytes(32))
    verifier, _, _ = a.generate_pkce_code_challenge()
    state = a.generate_state(PREFIX + "courses", code_verifier=verifier)
    assert verifier not in state and "courses" not in state


def test_states_that_are_not_ours_or_live_are_no_state() -> None:
    cookie_secret = secrets.token_bytes(32)
    a = replica(cookie_secret)
    state = a.generate_state(PREFIX + "courses", code_verifier="v")
    other = replica(secrets.token_bytes(32))
    assert other.get_code_verifier(state) is None
    assert other.get_next_url(state) == PREFIX  # HubOAuth's default: the service's root

    tampered = state[:-6] + ("A" if state[-6] != "A" else "B") + state[-5:]
    expired = Fernet(state_key(cookie_secret)).encrypt_at_time(
        json.dumps({"next_url": "/elsewhere", "code_verifier": "v"}).encode(),
        int(time.time()) - a.oauth_state_max_age - 60,
    )
    not_a_mapping = Fernet(state_key(cookie_secret)).encrypt(b"[]").decode()
    for bad in (tampered, expired.decode(), not_a_mapping, "", "not-a-state"):
        assert a.get_code_verifier(bad) is None, bad
        assert a.get_next_url(bad) == PREFIX, bad
