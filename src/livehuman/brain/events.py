"""Realtime protocol events at the wire: ids, strict validation with the openai SDK's types, errors."""

from __future__ import annotations

import itertools
import json
import re
import secrets
import typing
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from livehuman.brain.base import RequestError
from openai.types.realtime import RealtimeClientEvent, RealtimeServerEvent


class EventError(RequestError):
    """A client event the protocol rejects; carries what the `error` event reports."""

    def __init__(self, message: str, *, code: str = "invalid_event", param: str | None = None,
                 event_id: str | None = None) -> None:
        super().__init__(message, code=code, param=param)
        self.event_id = event_id


def _classes_by_type(union: Any) -> dict[str, type[BaseModel]]:
    """Map each event's `type` literal to its pydantic class (the SDK's discriminator is its own)."""
    union = typing.get_args(union)[0] if typing.get_origin(union) is typing.Annotated else union
    out: dict[str, type[BaseModel]] = {}
    for cls in typing.get_args(union):
        literal = cls.model_fields["type"].annotation
        for value in typing.get_args(literal):
            out[value] = cls
    return out


CLIENT_EVENTS = _classes_by_type(RealtimeClientEvent)
SERVER_EVENTS = _classes_by_type(RealtimeServerEvent)
_ADAPTERS: dict[type[BaseModel], TypeAdapter] = {}


def _extras(model: Any, path: str = "") -> list[str]:
    """Field paths the SDK's (extra="allow") models accepted without knowing them."""
    found: list[str] = []
    if isinstance(model, BaseModel):
        for key in (model.model_extra or {}):
            found.append(f"{path}{key}")
        for name in type(model).model_fields:
            found += _extras(getattr(model, name), f"{path}{name}.")
    elif isinstance(model, (list, tuple)):
        for i, value in enumerate(model):
            found += _extras(value, f"{path}{i}.")
    elif isinstance(model, dict):
        for key, value in model.items():
            found += _extras(value, f"{path}{key}.")
    return found


def _validate(data: Any, table: dict[str, type[BaseModel]], side: str) -> BaseModel:
    if not isinstance(data, dict):
        raise EventError(f"a {side} event must be a JSON object", code="invalid_json")
    event_id = data.get("event_id") if isinstance(data.get("event_id"), str) else None
    kind = data.get("type")
    cls = table.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise EventError(f"unknown {side} event type {kind!r}", code="invalid_event_type",
                         param="type", event_id=event_id)
    adapter = _ADAPTERS.get(cls) or _ADAPTERS.setdefault(cls, TypeAdapter(cls))
    try:
        model = adapter.validate_python(data, strict=True)
    except ValidationError as exc:
        param, message = _explain(exc.errors())
        raise EventError(f"invalid {kind}: {param or 'event'}: {message}", code="invalid_value",
                         param=param or None, event_id=event_id) from None
    unknown = _extras(model)
    if unknown:
        raise EventError(f"invalid {kind}: unknown parameter {unknown[0].rstrip('.')!r}",
                         code="unknown_parameter", param=unknown[0].rstrip("."), event_id=event_id)
    return model


def _explain(errors: list[dict]) -> tuple[str, str]:
    """The parameter and the words a developer needs, from pydantic's errors.

    A field that may be one of several types (a conversation item is a system, user or assistant
    message, a function call…) fails once for each: the type the data was closest to (fewest errors,
    and not refused for its "type" alone) is the one meant, and a value several types refuse, such as
    a role, is told with every value that would do with the rest of the data ("Input should be
    'system' or 'user'").
    """
    def branch(error: dict) -> tuple:  # the union members chosen on the way (pydantic names them by class)
        return tuple(p for p in error["loc"] if isinstance(p, str) and not p[:1].islower())

    def path(error: dict) -> str:
        return ".".join(str(p) for p in error["loc"] if not (isinstance(p, str) and not p[:1].islower()))

    counts: dict[tuple, int] = {}
    for error in errors:
        counts[branch(error)] = counts.get(branch(error), 0) + 1
    fewest = min(counts.values())
    closest = [e for e in errors if counts[branch(e)] == fewest]
    chosen = next((e for e in closest if e["loc"][-1] != "type"), closest[0])
    param = path(chosen)
    if chosen["type"] == "literal_error":
        # Every value that some type takes with all the rest of the data as it is.
        allowed = []
        for error in errors:
            if counts[branch(error)] == 1 and error["type"] == "literal_error" and path(error) == param:
                allowed += [v for v in re.split(r", | or ", error["ctx"]["expected"]) if v not in allowed]
        if len(allowed) > 1:
            return param, f"Input should be {', '.join(allowed[:-1])} or {allowed[-1]}"
    return param, chosen["msg"]


def validate_client_event(data: Any) -> BaseModel:
    """Check a client event strictly against the SDK's types (unknown fields rejected)."""
    return _validate(data, CLIENT_EVENTS, "client")


def validate_server_event(data: Any) -> BaseModel:
    """Check a server event strictly against the SDK's types (unknown fields rejected)."""
    return _validate(data, SERVER_EVENTS, "server")


def parse_client_message(text: str | bytes) -> dict:
    """Decode and validate one WebSocket message from a client; raises EventError."""
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise EventError(f"the message is not valid JSON: {exc}", code="invalid_json") from None
    except RecursionError:
        raise EventError("the message is nested too deeply", code="invalid_json") from None
    try:
        validate_client_event(data)
    except RecursionError:  # nested just shallow enough to parse, too deep to check
        raise EventError("the message is nested too deeply", code="invalid_value") from None
    return data


_counter = itertools.count()


def new_id(prefix: str) -> str:
    """A protocol-style id such as `event_…`, `item_…`, `resp_…`."""
    return f"{prefix}_{secrets.token_hex(6)}{next(_counter):x}"


def error_event(message: str, *, type: str = "invalid_request_error", code: str | None = None,
                param: str | None = None, event_id: str | None = None) -> dict:
    """An `error` server event (event_id echoes the client event that caused it)."""
    error: dict[str, Any] = {"type": type, "message": message}
    if code is not None:
        error["code"] = code
    if param is not None:
        error["param"] = param
    if event_id is not None:
        error["event_id"] = event_id
    return {"type": "error", "event_id": new_id("event"), "error": error}
