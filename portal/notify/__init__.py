"""Notifications: e-mail and SMS through RQ jobs, each sent at most once, failures shown.

Modules: ``settings`` (the environment), ``models`` (the idempotency record),
``records`` (SQL helpers around it), ``messages`` (Jinja rendering),
``channels`` (SMTP, HTTP SMS gateway, development outbox), ``ratelimit``
(a token bucket in Redis), ``jobs`` (what RQ runs), ``dispatch`` (what the
portal calls), ``reminders`` (what the loop calls).
"""
