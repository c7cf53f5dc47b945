"""The ``protocols`` argument, as the browser takes it."""

from __future__ import annotations

TYPE_CHECKING = False  # typing is imported for annotations only (see __init__.py)
if TYPE_CHECKING:
    from typing import Iterable, List, Optional, Union



def protocol_list(protocols: Optional[Union[str, Iterable[str]]]) -> List[str]:
    """``None`` -> no protocol, a ``str`` -> one protocol, else each item."""
    if protocols is None:
        return []
    if isinstance(protocols, str):
        return [protocols]
    result = list(protocols)
    for p in result:
        if not isinstance(p, str):
            raise TypeError(f"each protocol must be a str, not {type(p).__name__}")
    return result
