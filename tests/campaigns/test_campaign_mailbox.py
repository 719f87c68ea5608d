"""The unsubscribe/bounce mailbox end to end: a campaign goes out through the loopback
SMTP server (aiosmtpd) with VERP envelope senders; replies, bounces and complaints are
put into a real IMAP server on loopback (pymap); ``poll_mailbox`` reads them over IMAP
and the suppression list, consents and deliveries change — once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from urllib.parse import unquote

import pytest
from sqlalchemy import func, select
from tests.campaigns.conftest import add_people, dispatcher, email_of, launch, sms_plan
from tests.campaigns.mail_samples import arf_complaint, exmail_dsn, postfix_dsn, qmail_bounce
from tests.channels.fakes.imap import ImapServer
from tests.channels.fakes.smtp import SmtpServer
from typer.testing import CliRunner

from shopcrm.campaigns.config import CampaignSettings, channels_from_settings
from shopcrm.campaigns.mailbox import MailboxError, poll_mailbox
from shopcrm.campaigns.models import Delivery, Suppression
from shopcrm.campaigns.respect import address_hash, suppressed
from shopcrm.clock import FakeClock
from shopcrm.context import AppContext
from shopcrm.store.models import Consent

MAILBOX = "unsubscribe@example-shop.cn"
BOUNCE = "bounce@example-shop.cn"
SHANGHAI_10AM = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


@pytest.fixture
def imap_server() -> Iterator[ImapServer]:
    server = ImapServer(user=MAILBOX).start()
    yield server
    server.stop()


def mail_settings(settings_for: Callable[..., CampaignSettings], context: AppContext,
                  smtp: SmtpServer, imap: ImapServer, **email: object) -> CampaignSettings:
    return settings_for(context, quiet_hours={}, email={
        "host": "127.0.0.1", "port": smtp.port, "security": "none",
        "sender": "news@example-shop.cn", "unsubscribe_mailbox": MAILBOX,
        "bounce_address": BOUNCE, "imap_host": "127.0.0.1", "imap_port": imap.port,
        "imap_security": "none", "imap_user": imap.user, "imap_password": imap.password,
        **email})


def send_campaign(context: AppContext, config: CampaignSettings, smtp: SmtpServer,
                  people: list[int]) -> tuple[int, dict[int, tuple[str, bytes]]]:
    """The campaign's id and, per customer, (envelope sender, the e-mail as sent)."""
    clock = context.clock
    assert isinstance(clock, FakeClock)
    clock.set(SHANGHAI_10AM)
    campaign_id = launch(context, sms_plan(people, name="会员日邮件", channel="email",
                                           experiment={"holdout_share": 0}, content={
        "variants": [{"name": "A", "subject": "{{ customer.name }}，会员日专享",
                      "body": "亲爱的{{ customer.name }}：会员日快乐！"}]}))
    with channels_from_settings(config) as channels:
        dispatcher(context, config, channels).run()
    by_address = {r.rcpt_tos[0]: r for r in smtp.received}
    return campaign_id, {i: (by_address[email_of(i)].mail_from, by_address[email_of(i)].data)
                         for i in people}


def mailto_reply(sent: bytes, sender: str, message_id: str) -> bytes:
    """What a mail client sends when the reader presses its unsubscribe button."""
    original = message_from_bytes(sent, policy=default_policy)
    link = str(original["List-Unsubscribe"]).split(",")[0].strip().strip("<>")
    address, _, query = link.removeprefix("mailto:").partition("?")
    reply = EmailMessage()
    reply["From"], reply["To"] = sender, address
    reply["Subject"] = unquote(query.removeprefix("subject="))
    reply["Message-ID"] = message_id
    reply.set_content("This message was automatically generated.")
    return reply.as_bytes()


def letter(sender: str, subject: str, body: str, message_id: str) -> bytes:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = sender, MAILBOX, subject
    mail["Message-ID"] = message_id
    mail.set_content(body)
    return mail.as_bytes()


def withdrawn(context: AppContext) -> set[int]:
    with context.sessions() as session:
        return {int(c) for c in session.scalars(select(Consent.customer_id).where(
            Consent.channel == "email", Consent.status == "withdrawn"))}


def statuses(context: AppContext, campaign_id: int) -> dict[int, str]:
    with context.sessions() as session:
        return {d.customer_id: d.status for d in session.scalars(
            select(Delivery).where(Delivery.campaign_id == campaign_id))}


def store_state(context: AppContext) -> tuple[int, int, int]:
    with context.sessions() as session:
        return (session.scalar(select(func.count()).select_from(Suppression)) or 0,
                session.scalar(select(func.count()).select_from(Consent)) or 0,
                len(withdrawn(context)))


def test_replies_bounces_and_complaints_reach_the_suppression_list(
        context: AppContext, settings_for: Callable[..., CampaignSettings],
        smtp_server: SmtpServer, imap_server: ImapServer) -> None:
    people = add_people(context, range(1, 11))
    config = mail_settings(settings_for, context, smtp_server, imap_server)
    campaign_id, sent = send_campaign(context, config, smtp_server, people)
    assert all(envelope.startswith("bounce+") for envelope, _ in sent.values())  # VERP

    reply = mailto_reply(sent[1][1], f"王小明 <{email_of(1)}>", "<reply-1@mail.example.com>")
    imap_server.deliver(reply)                                          # 1: mailto button
    imap_server.deliver(postfix_dsn(to=sent[2][0], rcpt=email_of(2),    # 2: hard bounce
                                    original=sent[2][1]))
    imap_server.deliver(postfix_dsn(to=sent[3][0], rcpt=email_of(3),    # 3: soft bounce
                                    original=sent[3][1], status="4.4.1", action="delayed",
                                    message_id="<soft-3@mx1.example-shop.cn>"))
    imap_server.deliver(arf_complaint(to=BOUNCE, original=sent[4][1],   # 4: complaint
                                      rcpt=email_of(4)))
    imap_server.deliver(letter(email_of(5), "退订", "", "<plain-5@example.com>"))  # 5
    imap_server.deliver(qmail_bounce(to=sent[6][0], rcpt=email_of(6)))  # 6: VERP only
    imap_server.deliver(exmail_dsn(to=BOUNCE, rcpt=email_of(7),         # 7: X-Shopcrm-Key
                                   original=sent[7][1]))
    imap_server.deliver(letter(email_of(8), "订单", "我的订单什么时候发货？",
                               "<question-8@example.com>"))             # 8: for a person
    imap_server.deliver(letter("stranger@example.net", f"unsubscribe {'A' * 8}.{'B' * 22}",
                               "", "<forged@example.net>"))             # forged token
    imap_server.deliver(b"this is not a mail at all\r\n\xff\xfe\r\n")  # garbage

    outcome = poll_mailbox(context, config)
    assert (outcome.read, outcome.unsubscribes, outcome.bounces, outcome.soft_bounces,
            outcome.complaints, outcome.other, outcome.unmatched, outcome.malformed,
            outcome.duplicates) == (10, 2, 3, 1, 1, 1, 1, 1, 0)
    assert len(outcome.problems) == 1 and "no header fields" in outcome.problems[0]

    # the suppression list is what dispatch checks: 1, 4, 5 asked; 2, 6, 7 bounced
    with context.sessions() as session:
        found = suppressed(session, channel="email", customer_ids=people,
                           address_hashes=[address_hash(email_of(i)) for i in people])
        reasons = {r.reason for r in session.scalars(select(Suppression))}
    blocked = {i for i in people if found.holds(i, address_hash(email_of(i)))}
    assert blocked == {1, 2, 4, 5, 6, 7}
    assert reasons == {"mailto", "bounce", "complaint"}
    assert withdrawn(context) == {1, 4, 5}  # a dead mailbox withdraws nobody's consent
    after = statuses(context, campaign_id)
    assert {i for i, s in after.items() if s == "undelivered"} == {2, 6, 7}
    assert after[3] == "sent"
    # handled mail is seen; the question, the forgery and the garbage wait for a person
    flags = imap_server.flags()
    assert ["\\Seen" in f for f in flags] == [True] * 7 + [False] * 3

    # a second run reads nothing; the same reply delivered again changes nothing
    before = store_state(context)
    again = poll_mailbox(context, config)
    assert again.read == 0 and store_state(context) == before
    imap_server.deliver(reply)
    third = poll_mailbox(context, config)
    assert (third.read, third.duplicates, third.unsubscribes) == (1, 1, 0)
    assert store_state(context) == before
    assert "\\Seen" in imap_server.flags()[-1]


def test_handled_mail_can_be_moved_to_a_folder(
        context: AppContext, settings_for: Callable[..., CampaignSettings],
        smtp_server: SmtpServer, imap_server: ImapServer) -> None:
    people = add_people(context, [1, 2])
    config = mail_settings(settings_for, context, smtp_server, imap_server,
                           processed_folder="Processed/shopcrm")
    _, sent = send_campaign(context, config, smtp_server, people)
    imap_server.deliver(mailto_reply(sent[1][1], email_of(1), "<r1@example.com>"))
    imap_server.deliver(letter(email_of(2), "Hello", "a question", "<q2@example.com>"))
    outcome = poll_mailbox(context, config)
    assert (outcome.unsubscribes, outcome.other) == (1, 1)
    assert imap_server.flags() == [set()]  # the question stays, unread
    assert imap_server.flags("Processed/shopcrm") == [{"\\Seen"}]


def test_wrong_imap_password_is_a_clear_error(
        context: AppContext, settings_for: Callable[..., CampaignSettings],
        smtp_server: SmtpServer, imap_server: ImapServer) -> None:
    config = mail_settings(settings_for, context, smtp_server, imap_server,
                           imap_password="wrong")
    with pytest.raises(MailboxError, match="refused the login"):
        poll_mailbox(context, config)
    unreachable = mail_settings(settings_for, context, smtp_server, imap_server, imap_port=1)
    with pytest.raises(MailboxError, match="cannot reach"):
        poll_mailbox(context, unreachable)


def test_cli_reads_the_mailbox_and_exits_2_on_a_bad_password(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, imap_server: ImapServer) -> None:
    from shopcrm.cli.main import app

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("SHOPCRM_HOME", str(home))
    monkeypatch.setenv("COLUMNS", "200")

    def configure(password: str) -> None:
        (home / "campaigns.toml").write_text(
            'secret = "cli"\n[email]\nhost = "127.0.0.1"\nsender = "news@example-shop.cn"\n'
            f'imap_host = "127.0.0.1"\nimap_port = {imap_server.port}\n'
            f'imap_security = "none"\nimap_user = "{imap_server.user}"\n'
            f'imap_password = "{password}"\n', encoding="utf-8")

    imap_server.deliver(b"garbage without a header\r\n")
    configure(imap_server.password)
    read = CliRunner().invoke(app, ["campaign", "mailbox"])
    assert read.exit_code == 0, read.output
    assert "mail read: 1" in read.output and "malformed 1" in read.output
    configure("wrong")
    refused = CliRunner().invoke(app, ["campaign", "mailbox"])
    assert refused.exit_code == 2
    assert "refused the login" in refused.output and "Traceback" not in refused.output
