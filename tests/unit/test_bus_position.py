"""Where a JetStream delivery sits in its stream, read from the reply subject without building
nats-py's metadata: the same answer as that metadata, whatever form the reply takes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from nats.aio.msg import Msg
from nats.errors import NotJSMessageError

from janus_common import bus


def _msg(reply: str) -> Msg:
    return Msg(_client=None, subject="janus.evt.order.a", reply=reply, data=b"")  # type: ignore[arg-type]


@given(st.integers(1, 2**63), st.integers(0, 2**40), st.integers(1, 2**40), st.integers(1, 5))
def test_the_position_is_what_the_metadata_says(seq, pending, cseq, delivered):
    for reply in (f"$JS.ACK.EVENTS.c0nsumer.{delivered}.{seq}.{cseq}.1796324866755355707.{pending}",
                  f"$JS.ACK.hub.acchash.EVENTS.c0nsumer.{delivered}.{seq}.{cseq}.1796324866755355707.{pending}.tok"):
        meta = _msg(reply).metadata
        assert bus._position(_msg(reply)) == (meta.sequence.stream, meta.num_pending) == (seq, pending)


def test_a_reply_that_is_no_jetstream_delivery_is_refused_as_nats_py_refuses_it():
    for reply in ("", "_INBOX.abc", "$JS.NAK.A.B.1.2.3.4.5"):
        with pytest.raises(NotJSMessageError):
            bus._position(_msg(reply))
