"""Payment links: create (intent first), send, follow (the poller), deactivate and refund.

``store`` holds the database transactions, ``service`` the use cases the screens call,
``poller`` the background loop that learns a link was paid, ``words`` the texts a customer gets.
"""

from posplus_tui.services.links.service import LinkService, LinkSettings
from posplus_tui.services.links.store import LinkView

__all__ = ["LinkService", "LinkSettings", "LinkView"]
