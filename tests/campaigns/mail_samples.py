"""Bounces and complaints shaped like the real ones: Postfix's DSN (``bounce(8)``), an
Exchange Online NDR (a DSN with its HTML explanation), a Tencent Exmail / QQ Mail DSN
(Chinese explanation, ``MAILER-DAEMON@qq.com``), a qmail bounce (not a DSN: plain
text, only the VERP address says which delivery), a delayed-delivery warning (4.x.x) and
an ARF feedback-loop report (RFC 5965). ``original`` is the e-mail that bounced, as
bytes; the builders return the bounce as bytes with CRLF line ends."""

from __future__ import annotations


def _crlf(text: str) -> bytes:
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


def _headers_of(original: bytes) -> str:
    return original.split(b"\r\n\r\n", 1)[0].decode("ascii", "replace")


def postfix_dsn(*, to: str, rcpt: str, original: bytes, status: str = "5.1.1",
                action: str = "failed",
                message_id: str = "<20261120021502.4C1A2@mx1.example-shop.cn>") -> bytes:
    diagnostic = ("smtp; 550 5.1.1 <{0}>: Recipient address rejected: User unknown in "
                  "virtual mailbox table" if status.startswith("5")
                  else "smtp; 451 4.4.1 Connection timed out").format(rcpt)
    return _crlf(f"""Return-Path: <>
Delivered-To: {to}
Received: by mx1.example-shop.cn (Postfix) id 4C1A2; Fri, 20 Nov 2026 10:15:02 +0800 (CST)
Date: Fri, 20 Nov 2026 10:15:02 +0800 (CST)
From: MAILER-DAEMON@mx1.example-shop.cn (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: {to}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="4C1A2.1794970502/mx1.example-shop.cn"
Content-Transfer-Encoding: 8bit
Message-Id: {message_id}

This is a MIME-encapsulated message.

--4C1A2.1794970502/mx1.example-shop.cn
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx1.example-shop.cn.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

                   The mail system

<{rcpt}>: host mx.example.com[203.0.113.5] said: {diagnostic[6:]}

--4C1A2.1794970502/mx1.example-shop.cn
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx1.example-shop.cn
X-Postfix-Queue-ID: 4C1A2
X-Postfix-Sender: rfc822; {to}
Arrival-Date: Fri, 20 Nov 2026 10:15:01 +0800 (CST)

Final-Recipient: rfc822; {rcpt}
Original-Recipient: rfc822;{rcpt}
Action: {action}
Status: {status}
Remote-MTA: dns; mx.example.com
Diagnostic-Code: {diagnostic}

--4C1A2.1794970502/mx1.example-shop.cn
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

{_headers_of(original)}

--4C1A2.1794970502/mx1.example-shop.cn--
""")


def exchange_ndr(*, to: str, rcpt: str, original: bytes) -> bytes:
    return _crlf(f"""Received: from HK2PR02MB4123.apcprd02.prod.outlook.com by
 HK2PR02MB4123.apcprd02.prod.outlook.com; Fri, 20 Nov 2026 02:15:09 +0000
MIME-Version: 1.0
From: postmaster@outlook.com
To: {to}
Date: Fri, 20 Nov 2026 02:15:09 +0000
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="34d5bca9-67e4-4a4e-a0a0-7e3f3c4ad22b"
X-MS-Exchange-Message-Is-Ndr:
Content-Language: en-US
Message-ID: <5b3c6a51-ffee-4a8d-8d57-0c2c6f4d3e11@HK2PR02MB4123.apcprd02.prod.outlook.com>
In-Reply-To: <c9@example-shop.cn>
Subject: Undeliverable: =?UTF-8?B?5Lya5ZGY5pel5LiT5Lqr?=
Auto-Submitted: auto-replied

--34d5bca9-67e4-4a4e-a0a0-7e3f3c4ad22b
Content-Type: multipart/alternative; differences=Content-Type;
\tboundary="eb5b3b8d-0b48-4f7a-9a8e-1c5d1f1a2d33"

--eb5b3b8d-0b48-4f7a-9a8e-1c5d1f1a2d33
Content-Type: text/plain; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

Your message to {rcpt} couldn't be delivered.
{rcpt.split("@")[0]} wasn't found at {rcpt.split("@")[1]}.
Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient =
not found by SMTP address lookup'

--eb5b3b8d-0b48-4f7a-9a8e-1c5d1f1a2d33
Content-Type: text/html; charset="us-ascii"

<html><body><p>Your message to <a href=3D"mailto:{rcpt}">{rcpt}</a> couldn't
be delivered.</p></body></html>

--eb5b3b8d-0b48-4f7a-9a8e-1c5d1f1a2d33--

--34d5bca9-67e4-4a4e-a0a0-7e3f3c4ad22b
Content-Type: message/delivery-status

Reporting-MTA: dns;HK2PR02MB4123.apcprd02.prod.outlook.com
Received-From-MTA: dns;mx1.example-shop.cn
Arrival-Date: Fri, 20 Nov 2026 02:15:08 +0000

Original-Recipient: rfc822;{rcpt}
Final-Recipient: rfc822;{rcpt}
Action: failed
Status: 5.1.10
Diagnostic-Code: smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found
 by SMTP address lookup

--34d5bca9-67e4-4a4e-a0a0-7e3f3c4ad22b
Content-Type: message/rfc822

{original.decode("ascii", "replace")}
--34d5bca9-67e4-4a4e-a0a0-7e3f3c4ad22b--
""")


def exmail_dsn(*, to: str, rcpt: str, original: bytes) -> bytes:
    return _crlf(f"""Return-Path: <>
From: "Mail Delivery System" <MAILER-DAEMON@qq.com>
To: {to}
Subject: =?UTF-8?B?6YCA5L+hOiDkvJrlkZjml6XkuJPkuqs=?=
Date: Fri, 20 Nov 2026 10:15:20 +0800
Message-ID: <tencent_8B9F0A1C2D3E4F5A6B7C8D9E@qq.com>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="----=_QQ_BOUNCE_1"

------=_QQ_BOUNCE_1
Content-Type: text/plain; charset="UTF-8"
Content-Transfer-Encoding: 8bit

很抱歉，您发送的邮件被退回。
收件人：{rcpt}
退信原因：收件人邮箱地址不存在（550 Mailbox not found or access denied）
建议：请检查收件人地址是否正确。

------=_QQ_BOUNCE_1
Content-Type: message/delivery-status

Reporting-MTA: dns; newxmmxszc6-1.qq.com

Final-Recipient: rfc822; {rcpt}
Action: failed
Status: 5.0.0
Diagnostic-Code: smtp; 550 Mailbox not found or access denied

------=_QQ_BOUNCE_1
Content-Type: text/rfc822-headers

{_headers_of(original)}

------=_QQ_BOUNCE_1--
""")


def qmail_bounce(*, to: str, rcpt: str) -> bytes:
    """Not a DSN and quoting nothing of ours: only the VERP address it came back to
    names the delivery."""
    return _crlf(f"""Return-Path: <>
Delivered-To: {to}
Date: 20 Nov 2026 02:15:30 -0000
From: MAILER-DAEMON@mail.example.net
To: {to}
Subject: failure notice
Message-ID: <20261120021530.12345.qmail@mail.example.net>

Hi. This is the qmail-send program at mail.example.net.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<{rcpt}>:
Sorry, no mailbox here by that name. (#5.1.1)

--- Below this line is a copy of the message.

Subject: (the original)
""")


def arf_complaint(*, to: str, original: bytes, rcpt: str | None) -> bytes:
    rcpt_line = f"Original-Rcpt-To: {rcpt}\n" if rcpt else ""
    return _crlf(f"""From: <staff@hotmail.com>
Date: Fri, 20 Nov 2026 12:00:00 +0000
Subject: complaint about message from 203.0.113.9
To: {to}
Message-ID: <fbl-7f3e2d1c@fbl.hotmail.com>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report;
\tboundary="part1_13d.2e68ed54_boundary"

--part1_13d.2e68ed54_boundary
Content-Type: text/plain; charset="US-ASCII"
Content-Transfer-Encoding: 7bit

This is an email abuse report for an email message received from IP
203.0.113.9 on Fri, 20 Nov 2026 10:15:00 +0800.

--part1_13d.2e68ed54_boundary
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: SomeGenerator/1.0
Version: 1
Original-Mail-From: <bounce@example-shop.cn>
{rcpt_line}Arrival-Date: Fri, 20 Nov 2026 10:15:00 +0800
Source-IP: 203.0.113.9
Reported-Domain: example-shop.cn

--part1_13d.2e68ed54_boundary
Content-Type: message/rfc822
Content-Disposition: inline

{original.decode("ascii", "replace")}
--part1_13d.2e68ed54_boundary--
""")
