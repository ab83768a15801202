"""The bus described for clients in other languages: the JSON Schema of every message family and
an AsyncAPI 3.0 document of every subject, stream and message. Pure (no IO): ``janus schema``
prints them, ``docs/`` keeps the generated copies, and a test regenerates and compares.

Everything is derived from the code, so the documents cannot drift from it:
- the families are the :class:`~janus_common.messages.codec.Codec` instances of the codec
  module (their unions, their content types);
- the subjects are what the builders of :mod:`janus_common.subjects` return (each builder is
  called with sample tokens, which become ``{account}``, ``{broker}``, ``{symbol}``,
  ``{consumer}`` parameters), plus its constant subjects; the family of each comes from
  ``codec_for_subject`` / ``rpc_codecs_for_subject``, so a subject without one fails here;
- the streams are :func:`janus_common.streams.stream_configs`.
"""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
import yaml
from nats.js.api import StreamConfig

from . import streams, subjects
from .messages import codec as codec_module
from .messages.codec import JSON, MSGPACK, Codec, carried_on, codec_for_subject, rpc_codecs_for_subject

__all__ = ["FORMATS", "Channel", "asyncapi", "channels", "families", "json_schema", "render"]

FORMATS = ("json-schema", "asyncapi")

# The sample each builder parameter is called with, and how its token is described. A sample
# must pass the builder's own validation and be unmistakable as a whole token in the result.
_SAMPLES = {"account": "zzaccountzz", "broker": subjects.BROKERS[0], "symbol": "ZZSYMBOLZZ",
            "consumer": "zzconsumerzz"}
_PARAMETERS: dict[str, dict[str, Any]] = {
    "account": {"description": "An account alias from config.yaml (letters, digits, '_' or '-').",
                "examples": ["ib-1", "wb-1", "paper-1"]},
    "broker": {"description": "A broker type.", "enum": list(subjects.BROKERS)},
    "symbol": {"description": "A canonical symbol as one subject token (janus_common.symbols.to_token: "
                              "'.' becomes '~', so NQ.2603 is NQ~2603).",
               "examples": ["AAPL", "NQ~2603"]},
    "consumer": {"description": "The name of the durable consumer that dead-lettered the message.",
                 "examples": ["router-ib-1"]},
}


def families() -> dict[str, Codec[Any]]:
    """Every message family, by its name, in the codec module's order."""
    found: dict[str, Codec[Any]] = {}
    for value in vars(codec_module).values():
        if isinstance(value, Codec):
            found.setdefault(value.family, value)
    return found


def _members(union: Any) -> list[type[msgspec.Struct]]:
    return list(typing.get_args(union)) or [union]


def _ecma(node: Any) -> Any:
    """JSON Schema patterns are ECMA-262 regexes: Python's ``\\Z`` (end of input, which the
    catalogue uses so a final newline cannot pass) is ``$`` there (no multiline flag)."""
    if isinstance(node, dict):
        return {k: (v.replace("\\Z", "$") if k == "pattern" and isinstance(v, str) else _ecma(v))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_ecma(v) for v in node]
    return node


def _components(ref_template: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(family name -> union schema, component name -> schema), msgspec's own JSON Schema of
    the types: the ``kind`` tag is a required one-value enum of every tagged struct."""
    fams = families()
    unions, components = msgspec.json.schema_components([c.union for c in fams.values()],
                                                        ref_template=ref_template)
    return (_ecma(dict(zip(fams, unions, strict=True))),
            _ecma(dict(sorted(components.items()))))


def _wire(codec: Codec[Any]) -> str:
    if JSON in codec.content_types:
        return ("MessagePack, or JSON with the NATS header `Content-Type: application/json` "
                "(decoded with the same types)")
    return "MessagePack only"


def json_schema() -> dict[str, Any]:
    """One JSON Schema (2020-12) document: every struct in ``$defs``, and each family's tagged
    union as ``$defs/family-<name>``; the document itself accepts any Janus message."""
    unions, components = _components("#/$defs/{name}")
    defs = dict(components)
    for name, codec in families().items():
        defs[f"family-{name}"] = {"title": f"family {name}",
                                  "description": f"The messages decoded by the {name!r} codec. On the wire: "
                                                 f"{_wire(codec)}.",
                                  "x-content-types": list(codec.content_types),
                                  **unions[name]}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Janus messages",
        "description": "Every message on the Janus bus (generated by `janus schema`; do not edit). Each is a "
                       "tagged struct: `kind` names its class. Bytes fields are base64 in JSON.",
        "anyOf": [{"$ref": f"#/$defs/family-{name}"} for name in families()],
        "$defs": defs,
    }


@dataclass(frozen=True)
class Channel:
    """One subject: its name (the builder's), its address with ``{token}`` parameters, and
    the concrete subject it was derived from (samples in place of the parameters)."""

    name: str
    address: str
    parameters: tuple[str, ...]
    sample: str
    doc: str

    @property
    def rpc(self) -> bool:
        return self.sample.startswith(f"{subjects.PREFIX}.rpc.")


def _first_line(obj: object) -> str:
    return (inspect.getdoc(obj) or "").split("\n\n")[0].replace("\n", " ")


def channels() -> list[Channel]:
    """Every subject the subjects module builds (in its order), and its constant subjects;
    wildcards and helpers are not subjects."""
    by_sample = {v: k for k, v in _SAMPLES.items()}
    found: list[Channel] = []
    for name, obj in vars(subjects).items():
        if inspect.isfunction(obj) and obj.__module__ == subjects.__name__:
            params = tuple(inspect.signature(obj).parameters)
            if not params or any(p not in _SAMPLES for p in params):
                continue
            builder: Callable[..., str] = obj
            sample = builder(*(_SAMPLES[p] for p in params))
            if not sample.startswith(f"{subjects.PREFIX}."):
                continue  # a token validator, not a subject
            address = ".".join(f"{{{by_sample[t]}}}" if t in by_sample else t for t in sample.split("."))
            found.append(Channel(name, address, params, sample, _first_line(obj)))
        elif (isinstance(obj, str) and name.isupper() and obj.startswith(f"{subjects.PREFIX}.")
              and not obj.endswith(".") and "*" not in obj and ">" not in obj):
            found.append(Channel(name.lower(), obj, (), obj, ""))
    return found


def _matches(filter_subject: str, subject: str) -> bool:
    """NATS subject matching: ``*`` is one token, ``>`` the rest."""
    f, s = filter_subject.split("."), subject.split(".")
    for i, token in enumerate(f):
        if token == ">":
            return len(s) > i
        if i >= len(s) or (token != "*" and token != s[i]):
            return False
    return len(f) == len(s)


def _stream_facts(config: StreamConfig) -> dict[str, Any]:
    """What a client needs to know of a stream: where its messages are kept and for how long,
    and the window in which a re-sent Nats-Msg-Id is dropped."""
    facts: dict[str, Any] = {"name": config.name, "description": config.description,
                             "subjects": list(config.subjects or []),
                             "retention": config.retention.value if config.retention else None,
                             "storage": config.storage.value if config.storage else None,
                             "duplicate_window_s": config.duplicate_window,
                             "max_msg_size": config.max_msg_size, "max_age_s": config.max_age or None,
                             "max_bytes": config.max_bytes, "discard": config.discard.value if config.discard else None,
                             "allow_direct": config.allow_direct, "deny_delete": config.deny_delete,
                             "deny_purge": config.deny_purge}
    return {k: v for k, v in facts.items() if v not in (None, False)}


def _stream_of(channel: Channel) -> StreamConfig | None:
    for config in streams.stream_configs():
        if any(_matches(f, channel.sample) for f in config.subjects or []):
            return config
    return None


def _message(cls: type, content_type: str) -> dict[str, Any]:
    message: dict[str, Any] = {"name": cls.__name__, "title": cls.__name__, "contentType": content_type,
                               "payload": {"$ref": f"#/components/schemas/{cls.__name__}"}}
    if summary := _first_line(cls):
        message["summary"] = summary
    if content_type == JSON:
        message["headers"] = {"type": "object", "required": ["Content-Type"],
                              "properties": {"Content-Type": {"type": "string", "const": JSON}}}
    return message


def _message_key(cls: type, content_type: str) -> str:
    return cls.__name__ if content_type == MSGPACK else f"{cls.__name__}.json"


def _messages_of(codec: Codec[Any], union: Any = None) -> list[tuple[str, type, str]]:
    """(key, class, content type) of every message of ``union`` (default: the whole family),
    once per content type the family's codec accepts."""
    return [(_message_key(cls, ct), cls, ct) for cls in _members(codec.union if union is None else union)
            for ct in codec.content_types]


def _asyncapi_schema(node: Any) -> Any:
    """AsyncAPI's Schema Object is draft-07 plus ``discriminator`` as a property name (OpenAPI's
    object form, which msgspec writes, is not allowed there)."""
    if isinstance(node, dict):
        return {k: (v["propertyName"] if k == "discriminator" and isinstance(v, dict) else _asyncapi_schema(v))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_asyncapi_schema(v) for v in node]
    return node


def asyncapi() -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document of the bus, from Janus's point of view: it receives intents,
    account commands and requests, and sends routes, events, market data and replies."""
    _, schemas = _components("#/components/schemas/{name}")
    all_messages: dict[str, dict[str, Any]] = {}
    chans: dict[str, Any] = {}
    operations: dict[str, Any] = {}

    def channel_messages(codec: Codec[Any], union: Any = None) -> dict[str, Any]:
        out = {}
        for key, cls, ct in _messages_of(codec, union):
            all_messages.setdefault(key, _message(cls, ct))
            out[key] = {"$ref": f"#/components/messages/{key}"}
        return out

    for ch in channels():
        entry: dict[str, Any] = {"address": ch.address}
        if ch.doc:
            entry["description"] = ch.doc
        if ch.parameters:
            entry["parameters"] = {p: dict(_PARAMETERS[p]) for p in ch.parameters}
        stream = _stream_of(ch)
        if stream is not None:
            entry["x-jetstream"] = {"stream": stream.name,
                                    "retention": stream.retention.value if stream.retention else None,
                                    "duplicate_window_s": stream.duplicate_window}
        if ch.rpc:
            request, reply = rpc_codecs_for_subject(ch.sample)
            entry["messages"] = channel_messages(request)
            reply_name = f"{ch.name}_reply"
            chans[ch.name] = entry
            chans[reply_name] = {"address": None, "description": f"The requester's inbox (_INBOX.<identity>.…): the "
                                                                 f"reply to a request on {ch.address}.",
                                 "messages": channel_messages(reply)}
            operations[ch.name] = {
                "action": "receive", "channel": {"$ref": f"#/channels/{ch.name}"},
                "summary": f"Janus answers requests on {ch.address} (NATS request/reply).",
                "messages": [{"$ref": f"#/channels/{ch.name}/messages/{k}"} for k in entry["messages"]],
                "reply": {"channel": {"$ref": f"#/channels/{reply_name}"},
                          "messages": [{"$ref": f"#/channels/{reply_name}/messages/{k}"}
                                       for k in chans[reply_name]["messages"]]},
            }
            continue
        codec = codec_for_subject(ch.sample)
        entry["messages"] = channel_messages(codec, carried_on(ch.sample))
        chans[ch.name] = entry
        receives = JSON in codec.content_types  # what clients send Janus (intents, commands)
        operations[ch.name] = {
            "action": "receive" if receives else "send", "channel": {"$ref": f"#/channels/{ch.name}"},
            "summary": (f"Janus takes these on {ch.address}: {_wire(codec)}." if receives
                        else f"Janus publishes these on {ch.address}: {_wire(codec)}."),
            "messages": [{"$ref": f"#/channels/{ch.name}/messages/{k}"} for k in entry["messages"]],
        }

    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Janus bus",
            "version": "1.0.0",
            "description": (
                "The NATS subjects of Janus, a multi-broker trading back end (generated by `janus schema "
                "--format asyncapi`; do not edit). Every message is a msgspec struct tagged by `kind` (its "
                "class name), MessagePack on the wire. Clients may send intents and account commands as "
                "JSON instead, with the NATS header `Content-Type: application/json`; everything Janus "
                "publishes (events, routes, replies, market data) is MessagePack only. Messages sent to a "
                "JetStream stream carry a `Nats-Msg-Id` header (deduplicated within the stream's window); "
                "events are hash-chained per subject (`prev_hash`). Every connection authenticates with "
                "an nkey; what an identity may publish and subscribe to is `python -m janus_common.authz`."),
        },
        "defaultContentType": MSGPACK,
        "servers": {"local": {"host": "127.0.0.1:14222", "protocol": "nats",
                              "description": "`make run`'s NATS (nkey authentication; JANUS_NATS_URL elsewhere)."}},
        "channels": chans,
        "operations": operations,
        "components": {"schemas": _asyncapi_schema(schemas), "messages": dict(sorted(all_messages.items()))},
        "x-jetstream-streams": {c.name: _stream_facts(c) for c in streams.stream_configs() if c.name},
    }


class _NoAliases(yaml.SafeDumper):
    """A document people read: a repeated value is written out again, not as ``*id001``."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render(fmt: str) -> str:
    """The document of ``fmt`` as text: JSON Schema as JSON, AsyncAPI as YAML."""
    if fmt == "json-schema":
        return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"
    if fmt == "asyncapi":
        return yaml.dump(asyncapi(), Dumper=_NoAliases, sort_keys=False, allow_unicode=True, width=100)
    raise ValueError(f"unknown schema format {fmt!r}: one of {', '.join(FORMATS)}")
