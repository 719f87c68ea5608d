"""Service tickets (客服工单): consultations, complaints and after-sales cases from every
channel, with assignment, SLA clocks, priority by member tier, and satisfaction.

- :mod:`~shopcrm.tickets.rules` — pure: kinds, channels, states, priority, SLA clocks.
- :mod:`~shopcrm.tickets.models` — tickets, their timeline, merge moves, the SLA policy.
- :mod:`~shopcrm.tickets.service` — open, reply / note, status, assign, priority, rate.
- :mod:`~shopcrm.tickets.queries` — the queue, a customer's tickets, desk figures.
- :mod:`~shopcrm.tickets.merge` — tickets follow customer merges and un-merges.
"""
