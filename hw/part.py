"""The base of the engine's parts: a component built for one EngineConfig, its ports made from it."""

from amaranth.lib import wiring

from golden_model.engine_config import check_config

__all__ = ["EnginePart"]


class EnginePart(wiring.Component):
    """A component of the engine for ``config`` (an EngineConfig that hardware can be built for, checked
    first): its ports are the members that :meth:`members` gives for the configuration, and ``config``
    is kept for :meth:`elaborate`."""

    def __init__(self, config):
        self.config = check_config(config).check_buildable()
        super().__init__(self.members(self.config))

    def members(self, config):
        """The component's signature members (name -> In/Out) for ``config`` (``self.config``)."""
        raise NotImplementedError
