"""Abstract base classes for isinstance checks of tasks and signatures."""
from __future__ import annotations

from abc import ABCMeta, abstractmethod
from collections.abc import Callable
from typing import Any

__all__ = ('CallableTask', 'CallableSignature')


class _AbstractClass(metaclass=ABCMeta):
    __required_attributes__: frozenset = frozenset()

    @classmethod
    def _subclasshook_using(cls, parent: type, C: type) -> Any:
        return (
            cls is parent and
            all(any(attr in B.__dict__ for B in C.__mro__)
                for attr in cls.__required_attributes__)
        ) or NotImplemented


class CallableTask(_AbstractClass, Callable):  # type: ignore[misc]
    """Anything that can be called and sent like a task."""

    __required_attributes__ = frozenset({'delay', 'apply_async', 'apply'})

    @abstractmethod
    def delay(self, *args: Any, **kwargs: Any) -> Any:
        """Send with positional and keyword arguments."""

    @abstractmethod
    def apply_async(self, *args: Any, **kwargs: Any) -> Any:
        """Send with options."""

    @abstractmethod
    def apply(self, *args: Any, **kwargs: Any) -> Any:
        """Run in place."""

    @classmethod
    def __subclasshook__(cls, C: type) -> Any:
        return cls._subclasshook_using(CallableTask, C)


class CallableSignature(CallableTask):  # type: ignore[misc]
    """A signature: a task with its arguments and options, ready to call."""

    __required_attributes__ = frozenset({'clone', 'freeze', 'set', 'link', 'link_error', '__or__'})

    @classmethod
    def __subclasshook__(cls, C: type) -> Any:
        return cls._subclasshook_using(CallableSignature, C)
