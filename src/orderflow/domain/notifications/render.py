"""E-mails from the templates in ``templates/`` (Jinja2): a subject, a plain-text part and an HTML
part per kind of notification.

The HTML part is autoescaped (https://jinja.palletsprojects.com/en/stable/api/#autoescaping): a
product named ``<script>`` shows as text. The plain-text part is not HTML, so nothing there is
escaped; control characters never reach it, as the order service refuses them in every name.
Undefined names fail the rendering (``StrictUndefined``) rather than print nothing.
"""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from orderflow.domain.models import minor_units
from orderflow.domain.notifications.models import Email

if TYPE_CHECKING:
    import jinja2

    from orderflow.domain.notifications.models import DomainEvent, Order

TEMPLATES = Path(__file__).parent / "templates"


@cache
def _environment() -> jinja2.Environment:
    import jinja2  # imported on first use: only the notifier renders e-mails

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def money(amount: Decimal | str | None, currency: str | None) -> str:
    """``1234.5`` in USD as ``1,234.50 USD``: the currency's own minor units (0 for JPY)."""
    if amount is None or currency is None:
        return "-"
    places = minor_units(currency)
    value = Decimal(str(amount))
    return f"{value:,.{places if places is not None else 2}f} {currency}"


def render(event: DomainEvent, order: Order, to: str) -> Email:
    """The e-mail ``event`` sends about ``order`` to ``to``."""
    kind = event.kind
    environment = _environment()
    currency = event.detail.currency or order.currency
    context = {
        "order": order,
        "charged": event.detail.amount if event.detail.amount is not None else order.total,
        "currency": currency,
        "money": money,
    }
    subject = environment.get_template(f"{kind}.subject.txt").render(context).strip()
    context["subject"] = subject
    return Email(
        to=to,
        subject=" ".join(subject.split()),  # one header line, whatever the template holds
        text=environment.get_template(f"{kind}.txt").render(context),
        html=environment.get_template(f"{kind}.html").render(context),
        event_id=event.detail.event_id,
        order_id=order.order_id,
        kind=kind,
    )
