"""The msgspec message catalogue. Import names from here; modules group them by family."""

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
