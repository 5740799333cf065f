"""The A2A JSON-RPC endpoint: the SDK's Starlette app plus batches and ``"result": null``.

JSON-RPC 2.0 requires a success response to carry ``result`` even when it is null (the SDK
drops null members, so ``tasks/pushNotificationConfig/delete`` answered ``{}``), and allows
a batch: an array of requests answered by an array of responses. Streaming methods answer
with an event stream, which a batch cannot hold, so they are refused inside one.
"""

from __future__ import annotations

import json
from typing import Any

from a2a.server.apps import A2AStarletteApplication
from a2a.server.context import ServerCallContext
from a2a.types import A2AError, InvalidParamsError, InvalidRequestError, JSONParseError
from sse_starlette.sse import EventSourceResponse
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from aipartnerupflow.runtime.server.bodies import replay

STREAMING_METHODS = ("message/stream", "tasks/resubscribe")
MESSAGE_METHODS = ("message/send", "message/stream")
PART_KINDS = ("text", "file", "data")


def _error(request_id: Any, error: A2AError) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "error": error.root.model_dump(mode="json", exclude_none=True),
    }


def _unkind_part(request: Any) -> dict[str, Any] | None:
    """The error for a message part without a known ``kind`` (the schema requires one;
    the SDK would read any such part as text)."""
    if not isinstance(request, dict) or request.get("method") not in MESSAGE_METHODS:
        return None
    params = request.get("params")
    message = params.get("message") if isinstance(params, dict) else None
    parts = message.get("parts") if isinstance(message, dict) else None
    for part in parts if isinstance(parts, list) else ():
        if not isinstance(part, dict) or part.get("kind") not in PART_KINDS:
            text = f"every message part needs a kind: one of {', '.join(PART_KINDS)}"
            return _error(request.get("id"), A2AError(root=InvalidParamsError(message=text)))
    return None


class A2AApplication(A2AStarletteApplication):
    """``A2AStarletteApplication`` answering batches and keeping ``"result": null``."""

    def _create_response(self, context: ServerCallContext, handler_result: Any) -> Response:
        response = super()._create_response(context, handler_result)
        if isinstance(response, EventSourceResponse) or not isinstance(response, JSONResponse):
            return response
        body = json.loads(bytes(response.body))
        if isinstance(body, dict) and "error" not in body and "result" not in body:
            body["result"] = None
            headers = {k: v for k, v in response.headers.items() if k != "content-length"}
            return JSONResponse(body, headers=headers)
        return response

    async def _handle_requests(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None  # the SDK answers the parse error
        if not isinstance(body, list):
            if (refused := _unkind_part(body)) is not None:
                return JSONResponse(refused)
            return await super()._handle_requests(request)
        if not body:
            return JSONResponse(
                _error(None, A2AError(root=InvalidRequestError(message="empty batch")))
            )
        answers = []
        for item in body:
            answer = await self._one_of_batch(request, item)
            if answer is not None:
                answers.append(answer)
        return JSONResponse(answers) if answers else Response(status_code=204)

    async def _one_of_batch(self, request: Request, item: Any) -> dict[str, Any] | None:
        """The response to one request of a batch (None for a notification: no ``id``)."""
        request_id = item.get("id") if isinstance(item, dict) else None
        if isinstance(item, dict) and item.get("method") in STREAMING_METHODS:
            message = f"{item['method']} streams its answer and cannot be part of a batch"
            return _error(request_id, A2AError(root=InvalidRequestError(message=message)))
        if not isinstance(item, dict):
            return _error(None, A2AError(root=InvalidRequestError(message="not a request")))
        if (refused := _unkind_part(item)) is not None:
            return refused
        payload = json.dumps(item).encode()
        headers = [(k, v) for k, v in request.scope["headers"] if k != b"content-length"]
        headers.append((b"content-length", str(len(payload)).encode()))
        single = Request({**request.scope, "headers": headers}, replay(payload, request.receive))
        response = await super()._handle_requests(single)
        if "id" not in item:
            return None
        if not isinstance(response, JSONResponse):
            parse = A2AError(root=JSONParseError(message="no JSON answer"))
            return _error(request_id, parse)
        answer: dict[str, Any] = json.loads(bytes(response.body))
        return answer
