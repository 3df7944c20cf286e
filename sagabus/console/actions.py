"""The console's state-changing pages: logging in and out, replaying and purging dead
letters, and the operator actions on an instance (resume, retry, goto, cancel).

Each is a POST of an url-encoded form that `Guard.checked_form` lets through only with
a logged-in session and the form's CSRF field; the outcome is shown on a result page
that links back. The actions themselves are the operator tooling's:
`bus.deadletters.operations` for dead letters, `saga_dsl.engine.operations` for
instances.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, get_args
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bus.errors import SagabusError
from saga_dsl.engine.operations import Action, ActionRefused, Operations
from sagabus.console.dead_letters import DeadLetterSource
from sagabus.console.guard import COOKIE, Refused, read_form

if TYPE_CHECKING:
    from sagabus.console.app import ConsoleContext

SESSION_SECONDS = 8 * 3600
ACTIONS: tuple[str, ...] = get_args(Action)


def _context(request: Request) -> ConsoleContext:
    context: ConsoleContext = request.app.state.console
    return context


def _render(request: Request, template: str, status_code: int = 200, **values: object) -> Response:
    from sagabus.console.pages import render

    return render(request, template, status_code, **values)


def refused(request: Request, detail: str) -> Response:
    return _render(request, "error.html", 403, title="Refused", detail=detail)


def done(request: Request, title: str, lines: list[str], back: str) -> Response:
    return _render(request, "done.html", title=title, lines=lines, back=back)


async def login_page(request: Request) -> Response:
    return _render(request, "login.html", failed=False)


async def login(request: Request) -> Response:
    guard = _context(request).guard
    if not guard.actions:
        return refused(
            request,
            "this console is read-only: start it with SAGABUS_CONSOLE_TOKEN set to allow actions",
        )
    try:
        form = await read_form(request)
    except Refused as exc:
        return refused(request, exc.detail)
    if not guard.token_matches(form.get("token", "")):
        return _render(request, "login.html", 403, failed=True)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        COOKIE,
        guard.new_session(),
        max_age=SESSION_SECONDS,
        path="/",
        httponly=True,
        samesite="strict",
    )
    return response


async def logout(request: Request) -> Response:
    try:
        await _context(request).guard.checked_form(request)
    except Refused as exc:
        return refused(request, exc.detail)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


async def replay(request: Request) -> Response:
    """Replays one dead letter (`message_id`), those of one `reason`, or the whole
    `queue`."""
    context = _context(request)
    try:
        form = await context.guard.checked_form(request)
        source = _source(context)
        queue = _dead_letter_queue(source.dead_letter_queue_names(), form)
        message_id = form.get("message_id") or None
        reason = form.get("reason")
        result = await source.replay(queue, message_id=message_id, reason=reason)
    except Refused as exc:
        return refused(request, exc.detail)
    except SagabusError as exc:
        return refused(request, f"the replay failed: {exc}")
    lines = [f"{len(result.replayed)} dead letter(s) replayed from {queue}."]
    lines += [f"kept {dead.id}: {why}" for dead, why in result.kept]
    return done(request, "Replayed", lines, "/dead-letters")


async def purge(request: Request) -> Response:
    context = _context(request)
    try:
        form = await context.guard.checked_form(request)
        source = _source(context)
        queue = _dead_letter_queue(source.dead_letter_queue_names(), form)
        count = await source.purge(queue)
    except Refused as exc:
        return refused(request, exc.detail)
    except SagabusError as exc:
        return refused(request, f"the purge failed: {exc}")
    return done(request, "Purged", [f"{count} message(s) deleted from {queue}."], "/dead-letters")


def action_of(form: dict[str, str], history: str) -> tuple[Action, str, str | None]:
    """The action, reason and goto state of an action form; `Refused` when the action
    is not one of `ACTIONS` or the reason is missing (it is written to `history`)."""
    action = form.get("action", "")
    if action not in ACTIONS:
        raise Refused(f"the action must be one of {', '.join(ACTIONS)}")
    reason = form.get("reason", "").strip()
    if not reason:
        raise Refused(f"say why: the reason is written to {history}")
    return action, reason, form.get("state", "").strip() or None  # type: ignore[return-value]


async def instance_action(request: Request) -> Response:
    """Resume, retry, goto STATE or cancel the instance, with the operator's reason."""
    context = _context(request)
    instance_id = request.path_params["instance_id"]
    back = f"/instances/{quote(instance_id)}"
    try:
        form = await context.guard.checked_form(request)
        action, reason, state = action_of(form, "the instance's history")
        operations = Operations(context.store, context.versions)
        outcome = await operations.apply(instance_id, action, reason, state=state)
    except Refused as exc:
        return refused(request, exc.detail)
    except ActionRefused as exc:  # the action does not apply to the instance
        return _render(request, "error.html", 409, title="Not done", detail=str(exc))
    return done(request, action.capitalize(), [outcome.note], back)


def _source(context: ConsoleContext) -> DeadLetterSource:
    if context.dead_letters is None:
        raise Refused("this console was started without a broker")
    return context.dead_letters


def _dead_letter_queue(known: list[str], form: dict[str, str]) -> str:
    queue = form.get("queue", "")
    if queue not in known:
        raise Refused("that is not one of the dead-letter queues this console shows")
    return queue
