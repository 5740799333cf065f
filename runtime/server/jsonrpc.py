"""JSON-RPC 2.0 framing for the task API: reading a request object, checking its params,
and answering with a result or an error object (never a traceback)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from aipartnerupflow.errors import ConcurrencyError, RpcError, TaskNotFoundError
from aipartnerupflow.events.domain.cause import caused_by
from aipartnerupflow.logs import get_logger

log = get_logger("aipartnerupflow.task_api")

PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, INTERNAL_ERROR = (
    -32700,
    -32600,
    -32601,
    -32602,
    -32603,
)
TASK_NOT_FOUND = -32001
CONFLICT = -32002  # nothing was written; the same request may be sent again


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON data (datetimes as ISO 8601, anything else unknown as text)."""
    return json.loads(json.dumps(value, default=_json_default))


class Call:
    """One request: its params, its acting user and id, and a typed reader of params."""

    def __init__(self, params: Any, user: str | None, request_id: Any) -> None:
        self.params = params
        self.user = user
        self.request_id = request_id

    def get(self, name: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        """Param ``name`` of type ``kind``; ``default`` when absent or null (required
        without one). Raises RpcError(INVALID_PARAMS) otherwise."""
        if not isinstance(self.params, dict):
            raise RpcError(INVALID_PARAMS, "params must be an object")
        if name not in self.params or self.params[name] is None:
            if default is ...:
                raise RpcError(INVALID_PARAMS, f"missing parameter {name!r}")
            return default
        value = self.params[name]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise RpcError(INVALID_PARAMS, f"parameter {name!r} has the wrong type")
        return value


Handler = Callable[[Call], Awaitable[Any]]


def result_frame(request_id: Any, result: Any) -> dict[str, Any]:
    """The response object carrying ``result`` (also one server-sent event of a stream)."""
    return {"jsonrpc": "2.0", "id": request_id, "result": jsonable(result)}


def error_response(request_id: Any, code: int, message: str, data: Any = None) -> JSONResponse:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return JSONResponse({"jsonrpc": "2.0", "id": request_id, "error": error})


async def dispatch(request: Request, methods: Mapping[str, Handler]) -> Response:
    """Answer the request object in ``request``'s body with the handler its method names,
    acting as ``request.state.user_id``. A handler may return a Response of its own (a
    stream); errors become error objects: RpcError as raised, TaskNotFoundError as
    TASK_NOT_FOUND, other ValueErrors as INVALID_PARAMS naming their ``error_type``."""
    request_id: Any = None
    try:
        try:
            body = json.loads(await request.body())
        except ValueError:
            raise RpcError(PARSE_ERROR, "the body is not valid JSON") from None
        if not isinstance(body, dict) or not isinstance(body.get("method"), str):
            raise RpcError(INVALID_REQUEST, "expected a JSON-RPC 2.0 request object")
        request_id = body.get("id")
        handler = methods.get(body["method"])
        if handler is None:
            raise RpcError(METHOD_NOT_FOUND, f"unknown method {body['method']!r}")
        call = Call(body.get("params", {}), request.state.user_id, request_id)
        with caused_by(user_id=call.user, request_id=str(request_id)):
            result = await handler(call)
        if isinstance(result, Response):
            return result
        return JSONResponse(result_frame(request_id, result))
    except RpcError as exc:
        return error_response(request_id, exc.code, str(exc), exc.data)
    except TaskNotFoundError as exc:
        return error_response(request_id, TASK_NOT_FOUND, str(exc))
    except ConcurrencyError as exc:
        return error_response(request_id, CONFLICT, str(exc))
    except ValueError as exc:
        return error_response(
            request_id, INVALID_PARAMS, str(exc), {"error_type": type(exc).__name__}
        )
    except Exception as exc:  # never leak a traceback to the client
        log.error("rpc_internal_error", error=repr(exc))
        return error_response(request_id, INTERNAL_ERROR, "internal error")
