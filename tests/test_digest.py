"""Email digests delivered to a real SMTP server on localhost (aiosmtpd), read back."""

from __future__ import annotations

import re
import sqlite3
import ssl
import subprocess
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from fastapi.testclient import TestClient

from conftest import BACKENDS, Postgres, database_for
from paperfeed.digest import send_digests
from paperfeed.digest.send import smtp_sender
from paperfeed.embed.model import HashingEmbedder
from paperfeed.errors import SourceError
from paperfeed.recommend.service import Recommender
from paperfeed.store import Store, is_postgres, open_store
from paperfeed.sync import Sync
from paperfeed.web.app import create_app
from webapp import Inbox, build_store, free_port


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture(scope="module", params=BACKENDS)
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    folder = tmp_path_factory.mktemp("digest")
    return build_store(folder, n=800, db=database_for(request, folder, request.param))


@pytest.fixture
def store(site: Any, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Store]:
    """A copy of the module's store per test, so digests sent in one test stay there."""
    settings, _ = site
    if is_postgres(settings["db"]):
        server: Postgres = request.getfixturevalue("postgres")
        name = server.fresh(template=urlsplit(settings["db"]).path.lstrip("/"))
        request.addfinalizer(lambda: server.drop(name))
        copy = server.url(name)
    else:
        copy = str(tmp_path / "digest.db")
        with sqlite3.connect(settings["db"]) as source, sqlite3.connect(copy) as target:
            source.backup(target)
    s = open_store(copy)
    yield s
    s.close()


def subscribe(store: Store, profile: str, frequency: str = "daily") -> int:
    with store.writer() as w:
        pid = store.profile(profile).id
        w.subscribe(pid, "reader@example.org", frequency)
    return pid


def settings_for(site: Any, store: Store, port: int) -> dict[str, Any]:
    settings, _ = site
    return {**settings, "db": store.location, "smtp_host": "127.0.0.1", "smtp_port": port}


def test_a_digest_arrives_once_with_text_html_and_unsubscribe(
    site: Any, store: Store, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    settings = settings_for(site, store, port)
    subscribe(store, "Jack")
    recommender = Recommender(store, HashingEmbedder())
    reports = send_digests(store, recommender, settings)
    assert [(r.status, r.papers) for r in reports] == [("sent", 20)]
    assert len(inbox.messages) == 1
    msg = inbox.messages[0]
    assert msg["To"] == "reader@example.org"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = re.fullmatch(
        r"<(http://testserver/unsubscribe/\d+\?s=\w+)>", msg["List-Unsubscribe"].strip()
    ).group(1)  # type: ignore[union-attr]
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    recs = recommender.recommend("Jack", limit=20)
    assert recs[0].paper.title in text and recs[0].why[0] in text
    assert f"/paper/{recs[0].paper.ref}" in html and "more like this" in html
    # the same run again sends nothing: that period's digest went out
    again = send_digests(store, recommender, settings)
    assert [r.status for r in again] == ["already-sent"] and len(inbox.messages) == 1

    # one-click unsubscribe (RFC 8058) works without a session, and only when signed
    with TestClient(create_app({**settings, "db": store.location})) as client:
        path = unsubscribe.replace("http://testserver", "")
        assert client.post(path[:-3] + "abc").status_code == 403
        assert client.get(path).status_code == 200
        done = client.post(path, data={"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200 and "unsubscribed" in done.text
    assert store.subscriptions() == []


def test_a_sync_sends_the_daily_digest_its_rank_step_ranked_without_ranking_again(
    site: Any, store: Store, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    settings = settings_for(site, store, port)
    weekly = next(p.name for p in store.profiles() if p.name != "Jack")
    subscribe(store, "Jack")
    subscribe(store, weekly, "weekly")
    asked: list[tuple[str, str | None, int]] = []

    class Counting(Recommender):
        def recommend(
            self, profile: str, day: Any = None, since: Any = None, limit: int = 50
        ) -> Any:
            asked.append((profile, since, limit))
            return super().recommend(profile, day, since, limit)

    recommender = Counting(store, HashingEmbedder())
    outcome = Sync(store, settings, recommender=recommender).run(steps=("rank", "send"))
    assert outcome["ok"], outcome
    day = store.latest_day()
    profiles = len(store.profiles())
    # the rank step ranks every profile for the day; the send step ranks only the weekly one
    assert asked[:profiles] == [(p.name, day, 50) for p in store.profiles()]
    assert [(name, limit) for name, _, limit in asked[profiles:]] == [(weekly, 20)]
    assert len(inbox.messages) == 2
    (daily,) = [m for m in inbox.messages if "Jack" in str(m["Subject"])]
    text = daily.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    top = recommender.recommend("Jack", day, day, 50)[:20]
    found = [text.find(r.paper.title) for r in top]
    assert -1 not in found and found == sorted(found)  # the day's top 20, in its order


def test_feedback_links_in_the_digest_rate_the_paper(
    site: Any, store: Store, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    settings = settings_for(site, store, port)
    subscribe(store, "Jack")
    send_digests(store, Recommender(store, HashingEmbedder()), settings)
    text = inbox.messages[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    less = re.search(r"Less like this: http://testserver(/r/\S+)", text).group(1)  # type: ignore[union-attr]
    ref = less.split("/down/")[1].split("?")[0].replace("%2F", "/")
    with TestClient(create_app({**settings, "db": store.location})) as client:
        assert client.get(less.replace("/down/", "/up/")).status_code == 403  # signature binds
        assert client.get(less).status_code == 200
    paper = store.get_paper(ref)
    assert store.profile_relations("Jack")[paper.id] == "down"


def test_a_crash_mid_send_resends_with_the_same_message_id(
    site: Any, store: Store, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    settings = settings_for(site, store, port)
    subscribe(store, "Jack")
    recommender = Recommender(store, HashingEmbedder())

    def crash(message: EmailMessage) -> None:  # accepted by the server, then the process dies
        smtp_sender(settings)(message)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        send_digests(store, recommender, settings, send=crash)
    assert len(inbox.messages) == 1
    resent = send_digests(store, recommender, settings)
    assert [r.status for r in resent] == ["sent"]
    assert inbox.messages[1]["Message-ID"] == inbox.messages[0]["Message-ID"]
    assert send_digests(store, recommender, settings)[0].status == "already-sent"


def test_a_server_that_is_down_is_retried_next_run(
    site: Any, store: Store, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    subscribe(store, "Jack", "weekly")
    recommender = Recommender(store, HashingEmbedder())
    down = settings_for(site, store, free_port())
    failed = send_digests(store, recommender, down)
    assert failed[0].status == "failed" and "SMTP 127.0.0.1" in failed[0].detail
    assert re.fullmatch(r"\d{4}-W\d{2}", failed[0].period)
    sent = send_digests(store, recommender, settings_for(site, store, port))
    assert sent[0].status == "sent" and len(inbox.messages) == 1


def test_dry_run_sends_and_records_nothing(
    site: Any, store: Store, smtp: tuple[Inbox, int], tmp_path: Path
) -> None:
    inbox, port = smtp
    pid = subscribe(store, "Jack")
    recommender = Recommender(store, HashingEmbedder())
    reports = send_digests(store, recommender, settings_for(site, store, port), dry_run=True)
    assert reports[0].status == "dry-run" and reports[0].message is not None
    assert inbox.messages == []
    assert store.digest_status(pid, reports[0].period) is None


def test_digest_send_command(site: Any, store: Store, smtp: tuple[Inbox, int]) -> None:
    from click.testing import CliRunner

    from paperfeed.cli import main

    inbox, port = smtp
    subscribe(store, "Jack")
    env = {
        "PAPERFEED_EMBEDDER": "hashing",
        "PAPERFEED_SMTP_HOST": "127.0.0.1",
        "PAPERFEED_SMTP_PORT": str(port),
        "PAPERFEED_SECRET_KEY": "test-secret",
    }
    run = CliRunner().invoke(main, ["--db", store.location, "digest", "send"], env=env)
    assert run.exit_code == 0, run.output
    assert "sent  Jack -> reader@example.org" in run.output
    assert len(inbox.messages) == 1
    run = CliRunner().invoke(main, ["--db", store.location, "digest", "send"], env=env)
    assert "already-sent" in run.output and len(inbox.messages) == 1


def test_smtp_errors_name_the_server() -> None:
    send = smtp_sender(
        {
            "smtp_host": "127.0.0.1",
            "smtp_port": free_port(),
            "smtp_security": "none",
            "smtp_user": "",
            "smtp_password": "",
        }
    )
    with pytest.raises(SourceError, match=r"SMTP 127\.0\.0\.1"):
        send(EmailMessage())


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with openssl."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def _server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*map(str, certificate))
    return context


def _login(server: Any, session: Any, envelope: Any, mechanism: str, auth: Any) -> AuthResult:
    ok = auth.login == b"digests" and auth.password == b"s3cret"
    return AuthResult(success=ok, handled=False)


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_digests_go_over_tls_with_a_login(
    site: Any, store: Store, certificate: tuple[Path, Path], security: str
) -> None:
    inbox, port = Inbox(), free_port()
    tls = _server_tls(certificate)
    options: dict[str, Any] = {"authenticator": _login}
    if security == "starttls":  # no login before the STARTTLS upgrade
        options.update(tls_context=tls, require_starttls=True, auth_require_tls=True)
    else:  # the whole connection is TLS (aiosmtpd does not see it, so it must not ask)
        options.update(ssl_context=tls, auth_require_tls=False)
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        subscribe(store, "Jack")
        settings = {
            **settings_for(site, store, port),
            "smtp_security": security,
            "smtp_user": "digests",
            "smtp_password": "wrong",
            "smtp_ca_file": str(certificate[0]),
        }
        recommender = Recommender(store, HashingEmbedder())
        refused = send_digests(store, recommender, settings)
        assert refused[0].status == "failed" and "535" in refused[0].detail
        sent = send_digests(store, recommender, {**settings, "smtp_password": "s3cret"})
        assert sent[0].status == "sent" and len(inbox.messages) == 1
        # without the certificate's CA the server is not trusted, and nothing is sent
        unknown = {**settings, "smtp_password": "s3cret", "smtp_ca_file": ""}
        with pytest.raises(SourceError, match="CERTIFICATE_VERIFY_FAILED"):
            smtp_sender(unknown)(inbox.messages[0])
    finally:
        controller.stop()
