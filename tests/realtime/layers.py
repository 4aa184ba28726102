"""A channel layer that can be broken on purpose: group_send raises while ``broken``."""

from channels.layers import InMemoryChannelLayer


class BreakableLayer(InMemoryChannelLayer):
    broken = False

    async def group_send(self, group, message):
        if type(self).broken:
            raise ConnectionError("channel layer down (test)")
        return await super().group_send(group, message)
