"""A user's one-file service, written where they run `sagabus` (not in a package).

The project tests copy this file into their working directory as `myservices.py`:
`sagabus run --handlers myservices` serves it, and a harness script imports it.
"""

from bus import Command, HandlerContext, Service


class SingleFilePing(Command):
    ping_id: str


pinger = Service("pinger")


@pinger.handles(SingleFilePing)
async def ping(cmd: SingleFilePing, ctx: HandlerContext) -> None:
    await ctx.tx.state_put("pings", cmd.ping_id, {"seen": True})
