"""Channels: the ways a message leaves shopcrm, all behind one interface.

- :mod:`~shopcrm.channels.base` — ``Message``, ``SendResult`` (accepted / transient /
  permanent failure, provider message ID, reason, Retry-After) and the
  ``ChannelAdapter`` protocol every channel implements.
- :mod:`~shopcrm.channels.email` — SMTP with one-click unsubscribe headers and signed
  VERP envelope senders (:mod:`~shopcrm.channels.verp`).
- :mod:`~shopcrm.channels.sms` — a generic HTTP SMS gateway (HMAC-signed, provider field
  profiles, batches, receipts and replies); :mod:`~shopcrm.channels.sms_tencent` and
  :mod:`~shopcrm.channels.sms_aliyun` — the two clouds' own APIs and signatures.
- :mod:`~shopcrm.channels.wechat` — template and subscription messages.
- :mod:`~shopcrm.channels.webhook` — signed generic webhooks (and their verification).
- :mod:`~shopcrm.channels.push` — app push over HTTP (the in-site inbox is a store
  table: :mod:`shopcrm.contacts.inbox`; a JSON-lines inbox remains for the outbox).
- :mod:`~shopcrm.channels.filesink` — JSON lines, for the demo and benchmarks.

Adapters know nothing of consent, caps or quiet hours: dispatch applies
:mod:`shopcrm.campaigns.rules` before it hands a message over.
"""
