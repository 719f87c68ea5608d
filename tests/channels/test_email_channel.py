"""E-mail over SMTP to an aiosmtpd server on loopback: headers, encodings, refusals."""

from __future__ import annotations

import ssl
from email.header import decode_header, make_header
from pathlib import Path

import pytest
from fakes.smtp import SmtpServer, self_signed_certificate

from shopcrm.channels.base import DeliveryStatus, Message
from shopcrm.channels.email import SmtpEmailChannel, SmtpSettings


def channel_for(server: SmtpServer) -> SmtpEmailChannel:
    return SmtpEmailChannel(SmtpSettings(
        host="127.0.0.1", port=server.port, security="none", sender="news@shop.example",
        sender_name="好物小店", unsubscribe_mailbox="unsubscribe@shop.example"))


def mail(key: str, to: str = "wang.fang@example.com", **kw: object) -> Message:
    fields = {"subject": "双11会员专享：满300减50", "body": "王芳，您好！您的优惠券已到账。",
              "unsubscribe_url": "https://shop.example/u/tok123",
              "html": "<p>王芳，您好！</p>", **kw}
    return Message(key=key, to=to, **fields)  # type: ignore[arg-type]


def test_mail_arrives_with_unsubscribe_headers(smtp_server: SmtpServer) -> None:
    with channel_for(smtp_server) as channel:
        result = channel.send(mail("c1:s1:42"))
    assert result.status is DeliveryStatus.ACCEPTED
    [received] = smtp_server.received
    assert received.mail_from == "news@shop.example"
    assert received.rcpt_tos == ["wang.fang@example.com"]
    raw = received.data.decode("ascii")  # 7-bit clean on the wire: headers and body encoded
    assert "=?utf-8?" in raw
    message = received.message
    assert str(make_header(decode_header(message["Subject"]))) == "双11会员专享：满300减50"
    assert message["From"].addresses[0].display_name == "好物小店"
    assert message["List-Unsubscribe"].strip() == (  # folded on the wire
        "<mailto:unsubscribe@shop.example?subject=unsubscribe%20c1%3As1%3A42>, "
        "<https://shop.example/u/tok123>")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Message-ID"] == result.provider_message_id
    assert message["X-Shopcrm-Key"] == "c1:s1:42"
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None and "优惠券已到账" in plain.get_content()
    assert html is not None and "<p>王芳" in html.get_content()


def test_one_connection_for_many_messages(smtp_server: SmtpServer) -> None:
    with channel_for(smtp_server) as channel:
        results = [channel.send(mail(f"k{i}", to=f"c{i}@example.com", html=None,
                                     unsubscribe_url=None, language="en",
                                     subject="Your points expire soon", body="Hello"))
                   for i in range(20)]
        assert all(r.ok for r in results)
        assert len({r.provider_message_id for r in results}) == 20
    assert [r.rcpt_tos[0] for r in smtp_server.received] == [
        f"c{i}@example.com" for i in range(20)]
    # Without a one-click URL: only the mailto link and no List-Unsubscribe-Post.
    assert smtp_server.received[0].message["List-Unsubscribe-Post"] is None


@pytest.mark.parametrize(("to", "status", "code"), [
    ("reject@example.com", DeliveryStatus.PERMANENT, "550"),
    ("busy@example.com", DeliveryStatus.TRANSIENT, "451"),
    ("spam@example.com", DeliveryStatus.PERMANENT, "554"),
])
def test_refusals(smtp_server: SmtpServer, to: str, status: DeliveryStatus, code: str) -> None:
    with channel_for(smtp_server) as channel:
        result = channel.send(mail("k", to=to))
        assert result.status is status and code in (result.reason or "")
        assert channel.send(mail("k2")).ok  # the session is still usable afterwards
    assert [r.rcpt_tos for r in smtp_server.received] == [["wang.fang@example.com"]]


def test_header_injection_and_plain_http_unsubscribe_are_refused(
        smtp_server: SmtpServer) -> None:
    with channel_for(smtp_server) as channel:
        injected = channel.send(mail("k", subject="Hi\r\nBcc: victim@example.com"))
        http_link = channel.send(mail("k", unsubscribe_url="http://shop.example/u/1"))
    assert injected.status is DeliveryStatus.PERMANENT
    assert http_link.status is DeliveryStatus.PERMANENT and "https" in (http_link.reason or "")
    assert smtp_server.received == []


def test_server_restart_is_survived(smtp_server: SmtpServer) -> None:
    channel = channel_for(smtp_server)
    try:
        assert channel.send(mail("a")).ok
        smtp_server.stop()
        down = channel.send(mail("b"))
        assert down.status is DeliveryStatus.TRANSIENT
        restarted = SmtpServer(port=smtp_server.port).start()
        try:
            assert channel.send(mail("b")).ok  # reconnects
        finally:
            restarted.stop()
        assert [r.rcpt_tos for r in restarted.received] == [["wang.fang@example.com"]]
    finally:
        channel.close()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


# Implicit TLS: aiosmtpd cannot tell the socket is TLS and warns that AUTH is allowed
# without STARTTLS; the connection is encrypted from the first byte.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_tls_and_login(certificate: tuple[Path, Path], security: str) -> None:
    server = SmtpServer(tls=certificate, implicit_tls=security == "ssl",
                        users={"mailer": "s3cret"}).start()
    trusted = ssl.create_default_context(cafile=str(certificate[0]))
    try:
        def channel(password: str) -> SmtpEmailChannel:
            return SmtpEmailChannel(SmtpSettings(
                host="127.0.0.1", port=server.port, security=security,  # type: ignore[arg-type]
                username="mailer", password=password, sender="news@shop.example"),
                ssl_context=trusted)
        with channel("s3cret") as good:
            assert good.send(mail("k1")).ok
        with channel("wrong") as bad:
            refused = bad.send(mail("k2"))
        # An untrusted certificate is refused before any credentials are sent.
        untrusted = SmtpEmailChannel(SmtpSettings(
            host="127.0.0.1", port=server.port, security=security,  # type: ignore[arg-type]
            username="mailer", password="s3cret", sender="news@shop.example"))
        with untrusted:
            unverified = untrusted.send(mail("k3"))
    finally:
        server.stop()
    assert refused.status is DeliveryStatus.PERMANENT and "535" in (refused.reason or "")
    assert unverified.status is DeliveryStatus.TRANSIENT
    assert "CERTIFICATE_VERIFY_FAILED" in (unverified.reason or "")
    assert [r.rcpt_tos for r in server.received] == [["wang.fang@example.com"]]
