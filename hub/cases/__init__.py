"""Cases (issue 14): every complaint and every warning's notice, handled to the end.

One model for every source (a kiosk complaint, a call, a letter, the 12345
hotline, a website message, a warning's 预警告知函, a dissatisfied real-name
rating sent to follow-up), one chain of steps
(:mod:`hub.cases.chain`), deadlines on the official working-day calendar
(:mod:`hub.cases.calendar`) per class (:mod:`hub.cases.settings`), the SQL in
:mod:`hub.cases.store` and the JSON API in :mod:`hub.cases.api`; reminders and
escalation in :mod:`hub.cases.reminders`, the monthly bulletin in
:mod:`hub.cases.bulletins`.
See ``docs/cases.md``.
"""
