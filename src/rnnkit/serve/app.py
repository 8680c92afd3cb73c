"""The FastAPI application: endpoints, limits, authentication, metrics, the page at ``/``.

Endpoints (``{name}`` is a served model's name, from its checkpoint folder's name):

- ``POST /v1/models/{name}/predict``: the application's prediction (body per task, see
  ``schemas``); ``POST /v1/models/{name}/generate`` for language models, answered whole or,
  with ``"stream": true``, as Server-Sent Events: ``event: token`` per token
  (``data: {"text", "token", "index"}``), then ``event: done`` (``finish_reason``: length,
  eos, timeout, shutdown, cancelled; ``tokens``).
- ``GET /v1/models``, ``GET /health``, ``GET /metrics`` (Prometheus text), ``/docs`` and
  ``/openapi.json``, and the page: ``/`` with ``/static/...``.

Limits: ``max_body_bytes`` (413), ``max_tokens`` per request (422), ``max_streams`` open
generations (429 with ``Retry-After``), ``request_timeout`` (a stream ends with
``finish_reason: timeout``; a prediction answers 504). With ``api_key`` every path but
``/health`` and the page's static files needs ``Authorization: Bearer KEY`` (the page asks
for the key and sends it). Generation stops when its client disconnects.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from functools import lru_cache, partial
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from .metrics import Metrics
from .scheduler import BatchScheduler, Busy, FinishedHandle, GenerationSettings, StreamHandle
from .schemas import PREDICT_SCHEMAS, BodyError, GenerateRequest, parse_body
from .settings import ServeSettings
from .tasks import ServedModel

__all__ = ["ServeSettings", "create_app", "STATIC_DIR"]

log = logging.getLogger("rnnkit.serve")
STATIC_DIR = Path(__file__).resolve().parent / "static"
OPEN_PATHS = ("/health", "/", "/favicon.ico", "/docs", "/openapi.json")  # no key needed (plus
# /static/...): the page and the API's description (a browser opening /docs sends no key)
_BODY_SEND = "rnnkit.body_send"  # scope key: the send _Guard was given (see _EventStream)


class _BodyTooLarge(Exception):
    pass


class ErrorBody(BaseModel):
    """Every error answer: one line saying what is wrong."""

    detail: str


# what /openapi.json says the errors look like (FastAPI's default for 422 is its list format,
# which rnnkit never answers)
_ERRORS = {code: {"model": ErrorBody, "description": what} for code, what in (
    (400, "malformed request (not JSON, not UTF-8, a model that has no such endpoint)"),
    (401, "missing or wrong API key"), (404, "no such model"), (408, "the body came too late"),
    (413, "the body is larger than --max-body-bytes"),
    (422, "a field out of range or data the model cannot read"),
    (429, "too many open streams or predictions; retry after Retry-After"),
    (503, "shutting down"))}


def _error(status: int, detail: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


class _Guard:
    """ASGI middleware: authentication, the body-size limit and per-request metrics."""

    def __init__(self, app, settings: ServeSettings, metrics: Metrics, routes: list[str]):
        self.app, self.settings, self.metrics = app, settings, metrics
        self.key = None if settings.api_key is None else settings.api_key.encode()
        self.routes = routes

    def _endpoint(self, path: str) -> str:
        if path.startswith("/v1/models/"):
            parts = path.split("/")
            if len(parts) == 5 and parts[4] in ("predict", "generate"):
                return f"/v1/models/{{name}}/{parts[4]}"
        if path in self.routes:
            return path
        return "/static" if path.startswith("/static/") else "other"

    def _authorised(self, scope) -> bool:
        path = scope["path"]
        if self.key is None or path in OPEN_PATHS or path.startswith("/static/"):
            return True
        for k, v in scope.get("headers", []):
            if k == b"authorization":
                scheme, _, token = v.partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(),
                                                                           self.key)
        return False

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, endpoint, status = time.perf_counter(), self._endpoint(scope["path"]), [None]

        async def send_and_count(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                self.metrics.request(endpoint, status[0] or 500, time.perf_counter() - start)

        scope[_BODY_SEND] = send  # (for _EventStream's body messages)
        if not self._authorised(scope):
            response = _error(401, "missing or wrong API key: send Authorization: Bearer KEY",
                              {"WWW-Authenticate": "Bearer"})
            return await response(scope, receive, send_and_count)
        limit = self.settings.max_body_bytes
        for k, v in scope.get("headers", []):
            if k == b"content-length":
                try:
                    too_big = int(v) > limit
                except ValueError:
                    return await _error(400, "bad Content-Length header")(scope, receive,
                                                                           send_and_count)
                if too_big:
                    return await _error(413, f"the body is larger than the limit of {limit} "
                                        "bytes")(scope, receive, send_and_count)
        seen = [0]

        async def receive_limited():
            message = await receive()
            if message["type"] == "http.request":
                seen[0] += len(message.get("body", b""))
                if seen[0] > limit:
                    raise _BodyTooLarge()
            return message

        try:
            await self.app(scope, receive_limited, send_and_count)
        except ClientDisconnect:  # the client left mid-upload: nobody to answer, no fault here
            self.metrics.request(endpoint, 499, time.perf_counter() - start)
        except Exception as e:  # noqa: BLE001 - answered (and counted) as one JSON 500
            log.exception("rnnkit serve: %s %s failed", scope.get("method"), scope["path"])
            if status[0] is None:  # nothing sent yet (a started response keeps its status)
                detail = f"internal error: {type(e).__name__}: {_one_line(e)}"
                await _error(500, detail)(scope, receive, send_and_count)


def create_app(models: dict[str, ServedModel], settings: ServeSettings | None = None) -> FastAPI:
    """The application serving ``models`` (from ``tasks.load_models``)."""
    settings = settings or ServeSettings()
    settings.check()
    metrics = Metrics()
    schedulers: dict[str, BatchScheduler] = {}
    predict_pool = ThreadPoolExecutor(settings.predict_threads,
                                      thread_name_prefix="rnnkit-predict")
    state = {"draining": False, "predicting": 0}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.loop = asyncio.get_running_loop()
        for name, served in models.items():
            if served.generative:
                scheduler_for(name)
        yield
        for s in schedulers.values():
            await s.aclose()
        predict_pool.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="rnnkit serve", version=_version(), lifespan=lifespan,
                  description="Recurrent models over HTTP: predictions, token streaming with "
                              "batched recurrent steps across clients, and a page at /.")
    app.state.settings, app.state.metrics, app.state.schedulers = settings, metrics, schedulers

    def scheduler_for(name: str) -> BatchScheduler:
        """The model's scheduler (made at start-up, or on first use without a lifespan)."""
        if name not in schedulers:
            schedulers[name] = BatchScheduler(
                models[name].lm, max_streams=settings.max_streams, batched=settings.batched,
                interval=settings.stream_interval, suppress_ids=models[name].never_drawn(),
                on_tick=lambda tokens, s: metrics.tick(name, tokens, s))
        return schedulers[name]

    def drain() -> None:
        """Stop taking generations; let open streams run ``shutdown_grace`` s, then end them."""
        state["draining"] = True
        for s in schedulers.values():
            s.stop_admitting()
        app.state.loop.call_later(settings.shutdown_grace,
                                  lambda: [s.close_all("shutdown") for s in schedulers.values()])

    app.state.drain = drain

    # ----------------------------------------------------------------------------- errors
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return _error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        parts = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}"
                 for e in exc.errors()[:5]]
        return _error(422, "; ".join(parts) or "invalid request")

    @app.exception_handler(_BodyTooLarge)
    async def too_large(request: Request, exc: _BodyTooLarge):
        return _error(413, f"the body is larger than the limit of {settings.max_body_bytes} "
                      "bytes")

    @app.exception_handler(BodyError)
    async def body_error(request: Request, exc: BodyError):
        return _error(exc.status, exc.detail)

    def served(name: str) -> ServedModel:
        if name not in models:
            shown = name if len(name) <= 64 else name[:64] + "..."
            raise StarletteHTTPException(404, f"no model named {shown!r}; serving: "
                                         f"{', '.join(sorted(models)) or 'none'}")
        return models[name]

    async def _read_body(request: Request) -> bytes:
        """The request's body, or a 408 when it does not arrive within --request-timeout
        (a client that sent its headers and stalled held the connection for ever)."""
        try:
            return await asyncio.wait_for(request.body(), settings.request_timeout)
        except TimeoutError:
            raise StarletteHTTPException(408, f"the body did not arrive within "
                                         f"{settings.request_timeout:g} s") from None

    # ---------------------------------------------------------------------------- routes
    @app.get("/health", tags=["service"])
    async def health():
        """Liveness: no key needed."""
        return {"status": "draining" if state["draining"] else "ok", "models": len(models)}

    @app.get("/metrics", tags=["service"], response_class=PlainTextResponse)
    async def prometheus():
        """Prometheus text: requests, latencies, tokens, streams."""
        active = {n: s.open_streams for n, s in schedulers.items()}
        batch = {n: s.batch_size for n, s in schedulers.items()}
        cpu = {n: s.model_cpu_seconds for n, s in schedulers.items()}
        return PlainTextResponse(metrics.text(active, batch, cpu),
                                 media_type="text/plain; version=0.0.4")

    @app.get("/v1/models", tags=["models"])
    async def list_models():
        """Every served model: name, task, configuration, endpoints and ``input``: a
        classifier's ``{"kind": "text"}`` or ``{"kind": "numeric", "features": F,
        "feature_names": ..., "csv": ...}``; a bare model's (task ``model``) ``ids`` or
        ``features`` (and its ``output``); the other tasks' what the model reads with
        ``body`` (each field of the predict body and what it holds) and ``options``."""
        return {"models": [m.info() for m in models.values()]}

    @app.get("/v1/models/{name}", tags=["models"], responses=_ERRORS)
    async def get_model(name: str):
        """One served model, with its open streams."""
        info = served(name).info()
        if name in schedulers:
            info["open_streams"] = schedulers[name].open_streams
        return info

    predict_schema = {"oneOf": [{"$ref": f"#/components/schemas/{s.__name__}"}
                                for s in dict.fromkeys(PREDICT_SCHEMAS.values())]}

    @app.post("/v1/models/{name}/predict", tags=["models"], responses=_ERRORS, openapi_extra={
        "requestBody": {"required": True,
                        "content": {"application/json": {"schema": predict_schema}}}})
    async def predict(name: str, request: Request):
        """The model's prediction; the body's fields depend on the model's task."""
        model = served(name)
        if model.schema is None:
            raise StarletteHTTPException(400, f"model {name!r} (task {model.task}) has no "
                                         "HTTP predict")
        body = parse_body(await _read_body(request), model.schema, model.takes)
        answer, refused = await _in_pool(
            "the prediction", partial(model.predict, body),
            (ValueError, KeyError, IndexError, UnicodeDecodeError))
        if refused is not None:
            return refused
        return {"model": name, "task": model.task, **answer}

    async def _in_pool(what: str, work, errors: tuple):
        """``(work() run in the prediction threads, None)``, or ``(None, the answer)``: 503
        while draining, 429 past --max-streams running, 504 past --request-timeout, 422 for
        ``errors`` (the request's fault)."""
        if state["draining"]:
            return None, _error(503, "the server is shutting down")
        if state["predicting"] >= settings.max_streams:
            metrics.rejected["predict_busy"] += 1
            return None, _error(429, f"{settings.max_streams} predictions are running; retry "
                                "soon", {"Retry-After": "1"})
        state["predicting"] += 1
        try:
            return await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(
                predict_pool, work), settings.request_timeout), None
        except asyncio.TimeoutError:
            return None, _error(504, f"{what} took longer than {settings.request_timeout:g} s")
        except errors as e:
            return None, _error(422, _one_line(e))
        finally:
            state["predicting"] -= 1

    @app.post("/v1/models/{name}/generate", tags=["models"], responses={
        **_ERRORS, 200: {"description": "the text (JSON), or with \"stream\": true "
                         "Server-Sent Events: start, token per token, done or error",
                         "content": {"application/json": {}, "text/event-stream": {}}}},
        openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/GenerateRequest"}}}}})
    async def generate(name: str, request: Request):
        """Continue a prompt; ``"stream": true`` answers with Server-Sent Events."""
        model = served(name)
        if not model.generative:
            kind = "bare" if model.task == "model" else model.task  # not "a model model"
            raise StarletteHTTPException(400, f"model {name!r} is a {kind} model and "
                                         "does not generate; use /predict")
        req = parse_body(await _read_body(request), GenerateRequest,
                         partial(model.takes, "generate"))
        if req.max_tokens > settings.max_tokens:
            return _error(422, f"max_tokens: at most {settings.max_tokens} on this server, "
                          f"got {req.max_tokens}")
        if req.top_k is not None and req.top_k > model.tokenizer.vocab_size:
            req.top_k = None  # every token: the same as top-k off
        try:
            ids = model.encode_prompt(req.prompt)
        except ValueError as e:
            return _error(422, f"prompt: {_one_line(e)}")
        if req.beam is not None:
            handle = await _beam(name, model, ids, req)
            if isinstance(handle, Response):
                return handle
        else:
            gen = GenerationSettings(max_tokens=req.max_tokens, temperature=req.temperature,
                                     top_k=req.top_k, top_p=req.top_p,
                                     repetition_penalty=req.repetition_penalty, seed=req.seed,
                                     eos_id=model.eos_id() if req.stop_at_eos else None)
            try:
                handle = scheduler_for(name).submit(ids, gen, timeout=settings.request_timeout)
            except Busy as e:
                metrics.rejected["streams_busy"] += 1
                status = 503 if state["draining"] else 429
                return _error(status, f"{e}; retry soon", {"Retry-After": "1"})
        renderer = model.renderer(ids)
        if not req.stream:
            return await _whole(name, handle, renderer, len(ids), request)
        return _EventStream(handle, _events(name, handle, renderer, len(ids)))

    async def _beam(name, model, ids, req):
        """A beam search, run whole in the prediction threads (it steps W rows of one
        request, not one row of many as the stream scheduler does): its tokens as a finished
        handle, or the error answer. Sampling fields sent with it are refused, not ignored."""
        sampling = sorted(set(GenerateRequest.SAMPLING) & req.model_fields_set)
        if sampling:
            return _error(422, f"beam search does not sample: leave out {', '.join(sampling)}")
        found, refused = await _in_pool(
            "the beam search", partial(model.beam, ids, req.beam, req.length_penalty,
                                       req.max_tokens, req.stop_at_eos), (ValueError, MemoryError))
        if refused is not None:
            return refused
        tokens, why = found
        metrics.tokens[name] += len(tokens)
        return FinishedHandle(tokens, why)

    async def _whole(name, handle, renderer, prompt_tokens, request) -> dict:
        pieces, why = [], None
        # a client gone before the answer: its generation stops (it held a --max-streams
        # slot and drew tokens until max_tokens or the timeout)
        watcher = asyncio.get_running_loop().create_task(_cancel_on_disconnect(request, handle))
        try:
            while why is None:
                tokens, why = await handle.take()
                pieces += [renderer.add(t) for t in tokens]
        finally:
            watcher.cancel()
            handle.cancel()
        if why.startswith("error"):
            return _error(500, why)
        return {"model": name, "text": "".join(pieces), "tokens": len(pieces),
                "prompt_tokens": prompt_tokens, "finish_reason": why}

    heads: dict[str, dict[int, bytes]] = {n: {} for n in models}  # char LMs: token -> frame

    def _events(name, handle, renderer, prompt_tokens):
        """The body of an SSE answer: the ``start`` event with the first tokens, one
        ``token`` event per token; the tokens drawn since the last send go out in one write
        (a send per tick at most; fewer when the client or the loop falls behind the steps,
        or with ``stream_interval``); the last write carries the ``done`` (or ``error``)
        event and ends the body."""
        start = _sse("start", {"model": name, "prompt_tokens": prompt_tokens}).encode()
        cached = heads[name] if renderer.char else None  # a char's frame: its token alone
        observe, key = metrics.token_gap.observe, (name,)

        async def write(send, body_send) -> None:
            index, last, parts = 0, None, [start]  # the start event goes with the first tokens
            while True:
                tokens, why = await handle.take()
                if tokens:
                    now = time.monotonic()
                    if last is not None:
                        observe(key, now - last)
                    last = now
                    for token in tokens:
                        head = None if cached is None else cached.get(token)
                        if head is None:
                            head = _token_frame(renderer.add(token), token)
                            if cached is not None:
                                cached[token] = head
                        parts += (head, b"%d}\n\n" % index)
                        index += 1
                if why is not None:
                    kind = "error" if why.startswith("error") else "done"
                    parts.append(_sse(kind, {"finish_reason": why, "tokens": index}).encode())
                    await send({"type": "http.response.body", "body": b"".join(parts),
                                "more_body": False})
                    return
                await body_send({"type": "http.response.body", "body": b"".join(parts),
                                 "more_body": True})
                parts = []
        return write

    # ------------------------------------------------------------------------------ page
    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    # HEAD on the page, /health and the other GET resources: what load balancers, uptime
    # checks and HTTP clients probing a URL send (405 before)
    for path, endpoint in (("/", page), ("/health", health), ("/metrics", prometheus),
                           ("/v1/models", list_models), ("/v1/models/{name}", get_model)):
        app.add_api_route(path, endpoint, methods=["HEAD"], include_in_schema=False)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.openapi = lambda: _openapi(app)
    routes = ["/health", "/metrics", "/v1/models", "/", "/docs", "/openapi.json"]
    app.add_middleware(_Guard, settings=settings, metrics=metrics, routes=routes)
    return app


def _openapi(app: FastAPI) -> dict:
    """FastAPI's schema plus the request bodies the handlers parse themselves."""
    if app.openapi_schema is None:
        from fastapi.openapi.utils import get_openapi

        schema = get_openapi(title=app.title, version=app.version,
                             description=app.description, routes=app.routes)
        found = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in (GenerateRequest, *PREDICT_SCHEMAS.values()):
            found[model.__name__] = model.model_json_schema(
                ref_template="#/components/schemas/{model}")
        app.openapi_schema = schema
    return app.openapi_schema


class _EventStream(Response):
    """A streaming generation's Server-Sent Events, written straight onto the ASGI ``send``.

    Starlette's StreamingResponse pulls the body from an async generator inside a task group
    (a second task listens for the disconnect); here the stream's reader calls ``send``
    itself, and one small task waits for the disconnect and cancels the stream (it leaves
    at the next tick; its reader then gets the end and returns). The response's start and
    its last body message go through the whole ``send`` chain (Starlette's and FastAPI's
    wrappers note that a response started; ``_Guard`` counts the request when it ends); the
    body messages in between go to the ``send`` that ``_Guard`` received (its scope key
    ``_BODY_SEND``), past three wrappers that pass them through untouched. Fewer layers per
    send: the event loop's Python work per send is most of the server's own CPU per token.
    """

    media_type = "text/event-stream"

    def __init__(self, handle: StreamHandle, write):
        self.handle, self.write = handle, write
        self.status_code, self.background = 200, None
        self.init_headers({"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def __call__(self, scope, receive, send) -> None:
        watcher = asyncio.get_running_loop().create_task(self._watch(receive))
        try:
            await send({"type": "http.response.start", "status": 200,
                        "headers": self.raw_headers})
            # the events between the first and the last message skip the wrappers that
            # only watch for those two (see _Guard): they go to the send _Guard was given
            await self.write(send, scope.get(_BODY_SEND, send))
        finally:
            watcher.cancel()
            self.handle.cancel()  # a disconnected client: the stream leaves at the next tick

    async def _watch(self, receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self.handle.cancel()


async def _cancel_on_disconnect(request: Request, handle: StreamHandle) -> None:
    """Cancel ``handle`` when the client of ``request`` (its body already read) leaves."""
    while (await request.receive())["type"] != "http.disconnect":
        pass
    handle.cancel()


def _sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@lru_cache(maxsize=8192)
def _token_frame(text: str, token: int) -> bytes:
    """A token event up to its index: ``_sse("token", {"text", "token", "index"})`` is this
    plus ``b"%d}\\n\\n" % index`` (built once per text and token, not once per token sent)."""
    head = json.dumps({"text": text, "token": token}, ensure_ascii=False)[:-1]
    return f"event: token\ndata: {head}, \"index\": ".encode()


def _one_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:500]


def _version() -> str:
    from .. import __version__

    return __version__
