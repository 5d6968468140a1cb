"""What stands above hallrate's three roles: the ``hallrate`` command line and the demo hall.

The roles themselves live in ``device_agent/`` (window devices and the wire
protocol), ``hub/`` and ``kiosk/``; only this package imports all three.
"""
