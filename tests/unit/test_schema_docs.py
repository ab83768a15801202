"""The published schemas: generated from the code, checked in under docs/ (a test fails when
they drift), and the AsyncAPI document valid against the official AsyncAPI 3.0.0 JSON Schema."""

from __future__ import annotations

import copy
import hashlib
import json
import subprocess
import sysconfig
from pathlib import Path

import jsonschema
import msgspec
import pytest
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from janus_common import schema, subjects, streams
from janus_common import messages as m

ROOT = Path(__file__).resolve().parents[2]
DOCS = {"json-schema": ROOT / "docs" / "schemas" / "messages.schema.json", "asyncapi": ROOT / "docs" / "asyncapi.yaml"}
ASYNCAPI_SCHEMA = ROOT / "tests" / "schemas" / "asyncapi" / "3.0.0.json"
ASYNCAPI_SHA256 = "d4571a420e6ffb7fcc7066c95a6db1202f299a3c51daa103d0706bf30f95e626"  # @asyncapi/specs 6.11.1


@pytest.mark.parametrize("fmt", schema.FORMATS)
def test_the_checked_in_documents_are_what_the_code_generates(fmt):
    path = DOCS[fmt]
    assert path.is_file() and path.read_text() == schema.render(fmt), (
        f"{path.relative_to(ROOT)} is out of date with the code: regenerate it with "
        f"`janus schema --format {fmt} --out {path.relative_to(ROOT)}` (or `make schema`) and commit it")


# --- the AsyncAPI document against the official schema ---------------------------------------


def asyncapi_validator() -> jsonschema.Draft7Validator:
    """The official schema with every ``$ref`` resolved inside it: its definitions (and the
    draft-07 meta-schema) are bundled under their own ``$id``s, which the registry crawls. No
    retrieval is configured, so a reference it does not hold fails instead of going online."""
    raw = ASYNCAPI_SCHEMA.read_bytes()
    assert hashlib.sha256(raw).hexdigest() == ASYNCAPI_SHA256, "the vendored AsyncAPI schema was changed"
    contents = json.loads(raw)
    registry = Registry().with_resource(contents["$id"], Resource.from_contents(contents, default_specification=DRAFT7))
    return jsonschema.Draft7Validator(contents, registry=registry.crawl())


def generated() -> dict:
    return schema.asyncapi()


def test_the_asyncapi_document_is_valid_asyncapi_3():
    doc = yaml.safe_load(DOCS["asyncapi"].read_text())
    errors = sorted(asyncapi_validator().iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])


def _break_version(d): d["asyncapi"] = "2.6.0"
def _break_action(d): d["operations"]["intent"]["action"] = "publish"  # AsyncAPI 2's word
def _break_channel_address(d): d["channels"]["intent"]["address"] = ["janus", "intent"]
def _break_payload_schema(d): d["components"]["schemas"]["OrderIntent"]["type"] = "objekt"
def _break_parameter(d): d["channels"]["intent"]["parameters"]["account"]["enum"] = "ib-1"
def _break_content_type(d): d["components"]["messages"]["OrderIntent.json"]["contentType"] = 42
def _break_info(d): del d["info"]["version"]
def _break_reply(d): d["operations"]["rpc_resolve"]["reply"]["channel"] = "rpc_resolve_reply"


@pytest.mark.parametrize("breakage", [_break_version, _break_action, _break_channel_address, _break_payload_schema,
                                      _break_parameter, _break_content_type, _break_info, _break_reply])
def test_a_broken_asyncapi_document_fails_validation(breakage):
    # Each breaks a different depth of the schema (the root, operations, channels, a payload's
    # draft-07 meta-schema, parameters, messages, info, replies): the $refs are really followed.
    doc = copy.deepcopy(generated())
    breakage(doc)
    assert list(asyncapi_validator().iter_errors(doc)), f"{breakage.__name__} went unnoticed"


# --- what the documents say -----------------------------------------------------------------


def test_every_subject_and_every_stream_is_in_the_asyncapi_document():
    doc = generated()
    addresses = {c["address"] for c in doc["channels"].values()}
    assert {"janus.intent.{account}", "janus.control.{account}", "janus.route.{broker}.{account}",
            "janus.evt.order.{account}", "janus.evt.position.{account}", "janus.md.tick.{symbol}",
            "janus.evt.registry", "janus.rpc.registry.resolve", "janus.rpc.lookup.{broker}"} <= addresses
    assert doc["channels"]["route"]["parameters"]["broker"]["enum"] == list(subjects.BROKERS)
    assert set(doc["x-jetstream-streams"]) == {c.name for c in streams.stream_configs()}
    intents = doc["x-jetstream-streams"]["INTENTS"]
    assert intents["retention"] == "limits" and intents["duplicate_window_s"] == streams.Topology().intents_dedup_window_s
    assert doc["channels"]["evt_order"]["x-jetstream"]["stream"] == "EVENTS"
    assert doc["channels"]["route"]["x-jetstream"]["retention"] == "workqueue"
    # every channel's address is one of the subjects' own (a parameter stands for one token)
    for channel in doc["channels"].values():
        assert channel["address"] is None or all(p in channel["address"] for p in channel.get("parameters", {}))


def test_intents_are_msgpack_or_json_and_events_msgpack_only():
    doc = generated()
    intent_messages = doc["channels"]["intent"]["messages"]
    assert {"OrderIntent", "OrderIntent.json", "CancelIntent.json", "ModifyIntent.json"} <= set(intent_messages)
    assert "TradingStateRequest.json" in doc["channels"]["control"]["messages"]
    assert doc["components"]["messages"]["OrderIntent.json"]["contentType"] == "application/json"
    assert doc["components"]["messages"]["OrderIntent"]["contentType"] == "application/msgpack"
    assert not any(k.endswith(".json") for k in doc["channels"]["evt_order"]["messages"])
    assert doc["operations"]["intent"]["action"] == "receive" and doc["operations"]["evt_order"]["action"] == "send"


def json_validator() -> jsonschema.Draft202012Validator:
    document = json.loads(DOCS["json-schema"].read_text())
    jsonschema.Draft202012Validator.check_schema(document)
    return jsonschema.Draft202012Validator(document)


def family(name: str) -> jsonschema.Draft202012Validator:
    document = json.loads(DOCS["json-schema"].read_text())
    return jsonschema.Draft202012Validator({**document, "anyOf": [{"$ref": f"#/$defs/family-{name}"}]})


def test_the_json_schema_accepts_real_messages_and_refuses_broken_ones():
    intent = m.OrderIntent(account="ib-1", symbol="AAPL", side=m.Side.BUY, order_type=m.OrderType.LIMIT, qty=1.0,
                           limit_price=10.0)
    as_json = json.loads(msgspec.json.encode(intent))
    assert as_json["kind"] == "OrderIntent" and as_json["type"] == "LIMIT"
    json_validator().validate(as_json)
    family("intent").validate(as_json)
    for broken in ({**as_json, "tif": "SOMEDAY"}, {**as_json, "kind": "Nope"}, {**as_json, "intent_id": "a b"},
                   {k: v for k, v in as_json.items() if k != "kind"}):
        assert list(family("intent").iter_errors(broken)), broken
    # an event is not an intent
    rejected = json.loads(msgspec.json.encode(m.OrderRejected(account="ib-1", intent_id="x",
                                                               reason=m.RejectReason.MALFORMED, message="no")))
    json_validator().validate(rejected)
    assert list(family("intent").iter_errors(rejected))


def test_every_codec_family_is_in_the_json_schema():
    document = schema.json_schema()
    assert {f"family-{name}" for name in schema.families()} <= set(document["$defs"])
    assert "\\Z" not in json.dumps(document)  # patterns are ECMA-262


@pytest.mark.parametrize("fmt", schema.FORMATS)
def test_janus_schema_writes_the_document(fmt, tmp_path):
    # The installed command, as a person runs it (in-process, main() would reconfigure this
    # process's logging onto a captured stream).
    janus = Path(sysconfig.get_path("scripts")) / "janus"
    out = tmp_path / "out" / "doc"
    done = subprocess.run([str(janus), "schema", "--format", fmt, "--out", str(out)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and out.read_text() == schema.render(fmt), done.stderr
    done = subprocess.run([str(janus), "schema", "--format", fmt], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout == schema.render(fmt), done.stderr


def test_intents_and_account_commands_each_on_their_own_subject():
    doc = generated()
    intent, control = set(doc["channels"]["intent"]["messages"]), set(doc["channels"]["control"]["messages"])
    assert {"OrderIntent", "CancelIntent", "ModifyIntent"} <= intent and not any("Request" in k for k in intent)
    assert {"TradingStateRequest", "CancelAllRequest", "TradingStateRequest.json"} <= control
    assert not any("Intent" in k for k in control)
