"""A clinic's devices on an MQTT broker: one bridge per board publishes its lines and takes commands;
any number of subscribers (monitor, record, a dashboard) follow a device through the broker.

The topic tree, payloads, QoS and security are in docs/mqtt.md.
"""


class BrokerError(RuntimeError):
    """A broker problem, phrased for the user (one line)."""
