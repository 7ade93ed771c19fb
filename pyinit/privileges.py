"""User specs -> credentials; setgroups/setgid/setuid and their verification.  Leaf module."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .config import Config


class PrivilegeError(Exception):
    """A refusal: unknown user or group, bad spec, not allowed.  str() is the one-line reason."""


class Credentials:
    """What the child switches to.  apply() runs in the child, between fork and exec."""

    def apply(self) -> None:
        raise NotImplementedError

    def environ(self, env: dict[str, str]) -> dict[str, str]:
        return env


def resolve(config: Config) -> Credentials:
    raise PrivilegeError("--user is not available in this version")
