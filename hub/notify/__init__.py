"""Notifications through apprise: warnings raised, devices offline and back, per role.

:mod:`hub.notify.settings` reads ``[notify]``; :mod:`hub.notify.notices`
queues notices in the transaction of their event and keeps their log;
:mod:`hub.notify.sender` delivers them from threads of their own.
"""
