"""Loopback fakes of the providers the channels talk to: real servers on 127.0.0.1 that
behave like the providers (receipts, throttling, transient and permanent failures)."""
