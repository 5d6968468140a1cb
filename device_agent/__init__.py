"""The device agent of hallrate: evaluator input, durable outbox, MQTT link.

It also owns the wire protocol (:mod:`device_agent.topics`,
:mod:`device_agent.protocol`), which the hub imports.
"""

__version__ = "0.1.0"
