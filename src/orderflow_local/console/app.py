"""The console's web app (Starlette): the page, its JSON API and its stream of live events.

Guards, for a server any web page the user visits could try to reach:
- every request's Host must be this server's own (127.0.0.1 or localhost, on its port): a page of
  another site that rebinds its name to 127.0.0.1 (DNS rebinding) is refused;
- a request that carries an Origin must come from this server's own origin, and one that changes
  state (POST) must carry one: another site's page can neither read nor act (no CORS header is sent);
- a POST must also carry the run's token (``X-Orderflow-Token``), which `orderflow up` prints in
  the console's URL, as Jupyter does;
- the page runs under a Content-Security-Policy that allows only its own scripts and styles, and
  builds every text from the stack (messages, logs, names) as text, never as markup.

Starlette: https://www.starlette.io/ ; server-sent events: https://html.spec.whatwg.org/multipage/server-sent-events.html
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from orderflow_local.console.state import ConsoleError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from starlette.requests import Request
    from starlette.types import ASGIApp, Receive, Scope, Send

    from orderflow_local.console.feed import Feed
    from orderflow_local.console.state import ConsoleState

HERE = Path(__file__).parent
STATIC = HERE / "static"
TOKEN_HEADER = "x-orderflow-token"  # noqa: S105 - a header's name, not a secret
#: A comment line keeps an idle stream open through proxies and tells a closed page from an open one.
KEEPALIVE_SECONDS = 15.0
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",  # the page's URL carries the token
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}


class Guard:
    """ASGI middleware: the Host, Origin and token checks of the module's docstring, then the security
    headers on every answer."""

    def __init__(self, app: ASGIApp, *, token: str, port: Callable[[], int]) -> None:
        self.app = app
        self.token = token
        self.port = port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        refusal = self.refusal(scope["method"], headers)
        if refusal is not None:
            await JSONResponse({"error": refusal}, status_code=403, headers=SECURITY_HEADERS)(scope, receive, send)
            return

        # The assets are revalidated (their ETag), the rest never stored: answers hold orders and e-mails.
        added = (
            {**SECURITY_HEADERS, "cache-control": "no-cache"}
            if scope["path"].startswith("/static/")
            else SECURITY_HEADERS
        )

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (name.encode(), value.encode()) for name, value in added.items() if name.encode() not in present
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def origins(self) -> set[str]:
        port = self.port()
        return {f"http://127.0.0.1:{port}", f"http://localhost:{port}"}

    def refusal(self, method: str, headers: dict[str, str]) -> str | None:
        """Why the request is refused (one line), or None."""
        port = self.port()
        if headers.get("host") not in {f"127.0.0.1:{port}", f"localhost:{port}"}:
            return f"this console answers only as 127.0.0.1:{port} or localhost:{port}, not {headers.get('host')!r}"
        origin = headers.get("origin")
        if origin is not None and origin not in self.origins():
            return f"requests from {origin} are not accepted"
        # A browser says where a request comes from even where it sends no Origin (an <img>, a <script>,
        # a link): another site's page is refused; tools (curl, the SDKs) send no such header.
        fetched_from = headers.get("sec-fetch-site")
        if fetched_from is not None and fetched_from not in {"same-origin", "none"}:
            return f"requests from another site's page ({fetched_from}) are not accepted"
        if method not in {"GET", "HEAD"}:
            if origin is None:
                return "a request that changes state must come from the console's page (no Origin header)"
            # compared as bytes: a header is latin-1, and compare_digest refuses non-ASCII text
            given = headers.get(TOKEN_HEADER, "").encode("latin-1")
            if not hmac.compare_digest(given, self.token.encode()):
                return "the console's token is missing or wrong: open the URL `orderflow up` printed"
        return None


def create_app(state: ConsoleState, feed: Feed, *, token: str, port: Callable[[], int]) -> ASGIApp:
    """The console's app for ``state``, guarded by ``token`` (``port``: the port it is served on)."""
    templates = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True))
    asset_version = _asset_version()

    async def page(request: Request) -> Response:
        html = templates.get_template("index.html").render(
            stack_name=state.deployed.spec.stack_name,
            endpoint=state.stack.endpoint,
            static="/static",
            asset_version=asset_version,
        )
        return HTMLResponse(html)

    async def answer(call: Callable[[], Any]) -> Response:
        """``call``'s answer as JSON, run on a worker thread (it calls the embedded AWS); a failure as
        ``{"error": one line}``."""
        try:
            return JSONResponse(finite(await run_in_threadpool(call)))
        except ConsoleError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        except Exception as exc:  # noqa: BLE001 - the emulator stopped, a call failed: the page shows the line
            return JSONResponse({"error": _one_line(exc)}, status_code=502)

    def reader(method: Callable[[], Any]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            return await answer(method)

        return endpoint

    async def orders(request: Request) -> Response:
        order_id = request.query_params.get("id", "").strip() or None
        customer_id = request.query_params.get("customer", "").strip() or None
        return await answer(lambda: state.orders(order_id=order_id, customer_id=customer_id))

    async def redrive(request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": 'the body must be JSON: {"queue": NAME, "dryRun": true}'}, 400)
        if not isinstance(body, dict) or not isinstance(body.get("queue"), str):
            return JSONResponse({"error": 'the body must name the dead letter queue: {"queue": NAME}'}, 400)
        dry_run, include_rejected = body.get("dryRun", True), body.get("includeRejected", False)
        if not isinstance(dry_run, bool) or not isinstance(include_rejected, bool):
            return JSONResponse({"error": "dryRun and includeRejected must be true or false"}, 400)
        return await answer(lambda: state.redrive(body["queue"], dry_run=dry_run, include_rejected=include_rejected))

    async def purge(request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("queue"), str):
            return JSONResponse({"error": 'the body must name the dead letter queue: {"queue": NAME}'}, 400)
        return await answer(lambda: state.purge(body["queue"]))

    async def stream(request: Request) -> Response:
        # EventSource sends the id of the last event it had when it reconnects: the backlog resumes after it
        last = request.headers.get("last-event-id", "")
        subscriber = feed.subscribe(asyncio.get_running_loop(), after=int(last) if last.isdigit() else None)

        async def events() -> AsyncIterator[str]:
            try:
                yield "retry: 2000\n\n"
                while True:
                    try:
                        item = await asyncio.wait_for(subscriber.queue.get(), KEEPALIVE_SECONDS)
                    except TimeoutError:
                        yield ": keepalive\n\n"
                        continue
                    if item is None:
                        return
                    kind, data, sequence = item
                    seen = f"id: {sequence}\n" if sequence is not None else ""
                    yield f"{seen}event: {kind}\ndata: {json.dumps(finite(data), default=str)}\n\n"
            finally:
                feed.unsubscribe(subscriber)

        return StreamingResponse(events(), media_type="text/event-stream", headers={"x-accel-buffering": "no"})

    routes = [
        Route("/", page),
        Route("/api/overview", reader(state.overview)),
        Route("/api/live", reader(state.live)),
        Route("/api/alarms", reader(state.alarm_list)),
        Route("/api/dashboard", reader(state.dashboard)),
        Route("/api/dlq", reader(state.dead_letters)),
        Route("/api/orders", orders),
        Route("/api/dlq/redrive", redrive, methods=["POST"]),
        Route("/api/dlq/purge", purge, methods=["POST"]),
        Route("/api/stream", stream),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ]
    return Guard(Starlette(routes=routes), token=token, port=port)


def _asset_version() -> str:
    """A digest of the static files: a page loads the assets of the code it was served with."""
    digest = hashlib.sha256()
    for path in sorted(STATIC.rglob("*")):
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def finite(value: Any) -> Any:
    """``value`` with every NaN and infinity as None: JSON has neither (a metric from a log line may)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite(inner) for key, inner in value.items()}
    if isinstance(value, list | tuple):
        return [finite(inner) for inner in value]
    return value


def _one_line(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
