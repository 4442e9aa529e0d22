"""``RemovableHandle``: what every ``register_*hook`` returns, as ``torch.utils.hooks.RemovableHandle``."""

from __future__ import annotations

import itertools

_ids = itertools.count()


class RemovableHandle:
    """Removes one hook from the dict it was added to: ``handle.remove()``, or ``with handle: ...``."""

    def __init__(self, hooks: dict):
        self.hooks_dict = hooks
        self.id = next(_ids)

    def remove(self) -> None:
        self.hooks_dict.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
        return False


def add_hook(hooks: dict, hook, prepend: bool = False) -> RemovableHandle:
    """Put ``hook`` into ``hooks`` (an insertion-ordered dict), last or, with ``prepend``, first."""
    handle = RemovableHandle(hooks)
    hooks[handle.id] = hook
    if prepend:
        for key in [k for k in hooks if k != handle.id]:
            hooks[key] = hooks.pop(key)  # move every other hook behind the new one
    return handle
