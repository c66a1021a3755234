"""``cupctl dashboard``: the boards live in a web browser, and the session history.

``board`` owns each serial port (a thread per board), ``security`` decides who may ask what,
``server`` is the aiohttp application and its websocket, ``static/`` the page. docs/dashboard.md.
"""


class DashboardError(ValueError):
    """A dashboard that cannot start as asked (address, token); one line for the user."""
