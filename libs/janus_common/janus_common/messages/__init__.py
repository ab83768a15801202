"""The msgspec message catalogue. Import names from here; modules group them by family.

Schema evolution (the rule every change to this package follows): EVENTS is the audit log and
is replayed forever, so
- a new field always gets a default, so that every event stored before it still decodes;
- a stored event is never reinterpreted: a field keeps its name, type and meaning, and an
  event class keeps its tag; a new meaning is a new field or a new event class;
- a field may be made required only where every stored event already carries it (msgspec
  encodes defaults, so e.g. ``leg`` of the gateway order events is in every stored one);
- each module lists what it exports in ``__all__``.
"""

from .accounts import *  # noqa: F403
from .base import *  # noqa: F403
from .codec import *  # noqa: F403
from .contracts import *  # noqa: F403
from .control import *  # noqa: F403
from .deadletter import *  # noqa: F403
from .market import *  # noqa: F403
from .orders import *  # noqa: F403
from .registry import *  # noqa: F403
from .rpc import *  # noqa: F403
