"""The console's actions on a filtered set of instances: resume, retry, goto or
cancel every instance the list's filter selects.

Two POSTs of the same form (`Guard.checked_form`: a logged-in session and its CSRF
value): the first, without `expected`, counts the selected instances and answers a
confirmation page saying how many; the second carries the count the operator
confirmed as `expected` and runs `saga_dsl.engine.selection.apply_to_selection`, one
`Operations.apply` per instance, the same as the action on one instance. If more
instances match by then than were confirmed, nothing is done and the page asks again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from bus.store.browse import SagaFilter
from bus.store.filters import BadFilter, filter_values, saga_filter
from saga_dsl.engine.operations import Action, Operations
from saga_dsl.engine.selection import (
    MAX_SELECTION,
    SelectionRefused,
    apply_to_selection,
    described,
    selection_size,
)
from sagabus.console.actions import action_of
from sagabus.console.guard import Refused

if TYPE_CHECKING:
    from sagabus.console.app import ConsoleContext

PREFIX = "where_"
"""The filter's fields in the form: `where_saga`, `where_status`, ..."""


def _render(request: Request, template: str, status_code: int = 200, **values: object) -> Response:
    from sagabus.console.pages import render

    return render(request, template, status_code, **values)


def _request(form: dict[str, str]) -> tuple[SagaFilter, Action, str, str | None]:
    """The filter, action, reason and goto state of a form; `Refused` when one is
    missing or wrong."""
    try:
        where = saga_filter(form, PREFIX)
    except BadFilter as exc:
        raise Refused(str(exc)) from None
    action, reason, state = action_of(form, "each instance's history")
    if action == "goto" and state is None:
        raise Refused("goto needs the state to move the instances to")
    return where, action, reason, state


def _expected(form: dict[str, str]) -> int | None:
    text = form.get("expected", "").strip()
    if not text:
        return None
    if not text.isdigit():
        raise Refused("the confirmed count is a whole number")
    return int(text)


async def selection_action(request: Request) -> Response:
    """Counts and asks (no `expected`), or acts on the selection (with it)."""
    context: ConsoleContext = request.app.state.console
    try:
        form = await context.guard.checked_form(request)
        where, action, reason, state = _request(form)
        expected = _expected(form)
        count = await selection_size(context.store, where)
    except (Refused, SelectionRefused) as exc:
        detail = exc.detail if isinstance(exc, Refused) else str(exc)
        return _render(request, "error.html", 403, title="Refused", detail=detail)
    values = filter_values(where)
    back = "/instances?" + urlencode({k: v for k, v in values.items() if v})
    asked = {
        "selection": described(where), "action": action, "reason": reason, "state": state,
        "count": count, "limit": MAX_SELECTION, "back": back,
        "fields": {PREFIX + k: v for k, v in values.items()},
    }  # fmt: skip
    if expected is None or count > expected or count > MAX_SELECTION:
        grew = expected is not None and count > expected
        return _render(request, "selection.html", 409 if grew else 200, grew=grew, **asked)
    operations = Operations(context.store, context.versions)
    try:
        outcome = await apply_to_selection(operations, where, action, reason, state=state)
    except SelectionRefused as exc:
        return _render(request, "error.html", 409, title="Not done", detail=str(exc))
    return _render(
        request, "done.html", title=f"{action.capitalize()} {described(where)}",
        lines=outcome.lines(), back=back,
    )  # fmt: skip
