"""LED boards: the hall's wall board and the strips above the windows.

The hub reads the hall's numbers (:mod:`hub.boards.content`), lays them out
as pages for each board's size (:mod:`hub.boards.pages`), and a scheduler
thread (:mod:`hub.boards.scheduler`) coalesces changes, rotates pages and
hands them to each board's driver (:mod:`hub.boards.drivers`): a serial
character controller, a networked controller over MQTT, or the web wall.
"""
